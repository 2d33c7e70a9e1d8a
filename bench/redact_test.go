package bench

import "testing"

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := NewRedactor([]string{"sk-live-abc123", "abc", ""},
		[]string{"http://user:p%40ss&word@127.0.0.1:8080/v1", "https://sk-inurl-999@api.example.com/v1", "http://plain:9/v1"})
	for _, tc := range []struct{ in, want string }{
		// The key wherever it appears; "abc" is too short to be a secret
		// and is left alone (it is also part of the key, which wins).
		{"invalid key sk-live-abc123 for abc", "invalid key [REDACTED] for abc"},
		// A URL with a password loses its userinfo, as written, as
		// net/http masks it in errors, and the password on its own,
		// decoded or encoded.
		{`Post "http://user:p%40ss&word@127.0.0.1:8080/v1/chat/completions": refused`, `Post "http://127.0.0.1:8080/v1/chat/completions": refused`},
		{`Post "http://user:***@127.0.0.1:8080/v1/chat/completions": refused`, `Post "http://127.0.0.1:8080/v1/chat/completions": refused`},
		{"echo p@ss&word and p%40ss%26word", "echo [REDACTED] and [REDACTED]"},
		// A user name with no password is the credential.
		{"https://sk-inurl-999@api.example.com/v1/models", "https://api.example.com/v1/models"},
		{"the key sk-inurl-999", "the key [REDACTED]"},
		// A user name next to a password is not a secret.
		{"user", "user"},
		// URLs without userinfo are not touched.
		{"http://plain:9/v1", "http://plain:9/v1"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	if got := r.URL("https://sk-inurl-999@api.example.com/v1"); got != "https://api.example.com/v1" {
		t.Errorf("URL = %q; want the URL without userinfo", got)
	}
	var none *Redactor // no secrets configured: nothing changes
	if NewRedactor(nil, []string{"http://h/v1"}) != nil || none.String("sk-x") != "sk-x" || none.URL("http://u:p@h/") != "http://h/" {
		t.Error("a Redactor without secrets must be nil and still drop URL userinfo")
	}
	// JSON escaping hides "&" (\u0026) from String; redactJSON decodes.
	doc := `{"models":[{"base_url":"http://user:p%40ss\u0026word@127.0.0.1:8080/v1"}]}`
	if got := redactJSON(doc, r); got != `{"models":[{"base_url":"http://127.0.0.1:8080/v1"}]}` {
		t.Errorf("redactJSON = %s", got)
	}
}
