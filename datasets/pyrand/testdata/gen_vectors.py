"""Test vectors for package pyrand, from CPython's random module.

Run from the repository root with any CPython 3 (stdlib only):

    python3 datasets/pyrand/testdata/gen_vectors.py > datasets/pyrand/testdata/vectors.json

The output is deterministic: fixed seeds, no timestamps. Large samples are
recorded as the SHA-256 of their indices joined by "," (decimal).
"""

import hashlib
import json
import math
import platform
import random
import sys

SEEDS = [0, 1, 42, -42, 12345, 2**32 - 1, 2**32, 2**40 + 7, 2**63 + 11]


def digest(xs):
    return hashlib.sha256(",".join(map(str, xs)).encode()).hexdigest()


def main():
    out = {"python": platform.python_version(), "getrandbits": [], "randbelow": [], "sample": []}
    for seed in SEEDS:
        for k in [1, 7, 31, 32, 33, 40, 63, 64]:
            r = random.Random(seed)
            out["getrandbits"].append({"seed": seed, "k": k, "values": [r.getrandbits(k) for _ in range(12)]})
        for n in [1, 2, 3, 10, 1000, 2**31 + 5, 2**32, 2**33 - 1, 2**62 + 3]:
            r = random.Random(seed)
            out["randbelow"].append({"seed": seed, "n": n, "values": [r._randbelow(n) for _ in range(12)]})
    # Small samples in both branches of Random.sample: setsize is 21 for
    # k <= 5 and 21 + 4**ceil(log4(3k)) above; n <= setsize uses the pool.
    small = [(0, 0), (1, 1), (5, 3), (21, 5), (22, 5), (85, 6), (86, 6), (100, 10), (1000, 10),
             (37, 37), (1000, 1000), (30000, 12)]
    for seed in SEEDS:
        for n, k in small:
            r = random.Random(seed)
            out["sample"].append({"seed": seed, "n": n, "k": k, "indices": r.sample(range(n), k)})
    # The paper's case (30,000 generated, filter keeps some, subsample to
    # 10,000) and the boundaries of setsize: for k just below and above
    # 4**m / 3, n = setsize and setsize + 1.
    big = [(30000, 10000), (23000, 10000), (10001, 10000), (10000, 10000)]
    for m in [3, 5, 8]:
        for k in [(4**m) // 3, (4**m) // 3 + 1]:
            setsize = 21 + 4 ** math.ceil(math.log(k * 3, 4))  # as Random.sample
            for n in [setsize, setsize + 1]:
                if k <= n:
                    big.append((n, k))
    for seed in [0, 42, 12345]:
        for n, k in big:
            r = random.Random(seed)
            xs = r.sample(range(n), k)
            out["sample"].append({"seed": seed, "n": n, "k": k, "sha256": digest(xs), "first": xs[:5]})
    json.dump(out, sys.stdout, separators=(",", ":"))
    print()


if __name__ == "__main__":
    main()
