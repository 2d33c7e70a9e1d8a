package experiment

import (
	"context"
	"errors"

	"github.com/traitleak/traitleak/results"
)

// Status is how far an experiment has come in a results database.
type Status struct {
	// Datasets are the plan's datasets with their records (nil: not
	// generated yet).
	Datasets []DatasetStatus
	// Students are the plan's students with their job and model (nil:
	// not created or not made yet).
	Students []StudentStatus
	// Runs are the experiment's evaluation runs, newest first.
	Runs []results.Run
}

// DatasetStatus is one dataset of the plan and its record.
type DatasetStatus struct {
	Plan   *DatasetPlan
	Record *results.Dataset
}

// StudentStatus is one student of the plan, its job and its model.
type StudentStatus struct {
	Plan    *StudentPlan
	Job     *results.FineTuneJob
	Student *results.Student
}

// ReadStatus reads e's artefacts from store without changing anything.
func ReadStatus(ctx context.Context, store *results.Store, e *Experiment) (*Status, error) {
	p, err := e.NewPlan()
	if err != nil {
		return nil, err
	}
	st := &Status{}
	recs := map[*DatasetPlan]*results.Dataset{}
	for _, d := range p.Datasets {
		rec, err := store.DatasetByKey(ctx, d.Key)
		if err != nil && !errors.Is(err, results.ErrNotFound) {
			return nil, err
		}
		recs[d] = rec
		st.Datasets = append(st.Datasets, DatasetStatus{Plan: d, Record: rec})
	}
	for _, s := range p.Students {
		ss := StudentStatus{Plan: s}
		if rec := recs[s.Dataset]; rec != nil && rec.SHA256 != "" {
			spec := s.Spec(rec.SHA256)
			for {
				job, err := store.JobOf(ctx, e.provider(), spec.Key())
				if errors.Is(err, results.ErrNotFound) {
					break
				}
				if err != nil {
					return nil, err
				}
				ss.Job = job // the latest attempt
				spec.Attempt++
			}
		}
		if ss.Job != nil {
			stu, err := store.StudentOf(ctx, ss.Job.ID)
			if err != nil && !errors.Is(err, results.ErrNotFound) {
				return nil, err
			}
			ss.Student = stu
		}
		st.Students = append(st.Students, ss)
	}
	ids, err := store.ExperimentRuns(ctx, e.Name, string(StageEvaluate))
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		r, err := store.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		st.Runs = append(st.Runs, *r)
	}
	return st, nil
}
