package readapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/problem"
	"github.com/orderengine/orderengine/projections"
)

// RebuildRequest asks for a rebuild of one projection.
type RebuildRequest struct {
	Projection string
	// DryRun builds and compares the new generation, then drops it.
	DryRun bool
	// Progress is to be called as the rebuild goes (projections.RebuildOptions.Progress).
	Progress func(projections.Progress)
}

// Rebuilder rebuilds projections (the lead wires projections.Rebuild for each name).
type Rebuilder interface {
	// Rebuildable lists the projection names Rebuild accepts.
	Rebuildable() []string
	// Rebuild blocks until the rebuild is done or ctx ends (projections.Rebuild).
	Rebuild(ctx context.Context, req RebuildRequest) (*projections.RebuildReport, error)
}

// Rebuild job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// RebuildProgress is a running rebuild's progress.
type RebuildProgress struct {
	Generation int64  `json:"generation"`
	Events     uint64 `json:"events"`
	Total      uint64 `json:"total"`
	Position   uint64 `json:"position"`
	Head       uint64 `json:"head"`
	// Percent of the log's positions covered (0–100).
	Percent        float64 `json:"percent"`
	Rate           float64 `json:"eventsPerSecond"`
	ETASeconds     float64 `json:"etaSeconds"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// Phase is build, switch or done.
	Phase string `json:"phase"`
}

// RebuildJob is the last rebuild this server started for a projection.
type RebuildJob struct {
	Projection  string                     `json:"projection"`
	State       string                     `json:"state"`
	DryRun      bool                       `json:"dryRun"`
	RequestedBy string                     `json:"requestedBy"`
	StartedAt   time.Time                  `json:"startedAt"`
	FinishedAt  time.Time                  `json:"finishedAt,omitzero"`
	Progress    *RebuildProgress           `json:"progress,omitempty"`
	Report      *projections.RebuildReport `json:"report,omitempty"`
	Error       string                     `json:"error,omitempty"`
}

// ProjectionView is a projection's status, with the position (checkpoint), head, lag and
// state, and the last rebuild this server started.
type ProjectionView struct {
	projections.Status
	Position uint64      `json:"position"`
	Rebuild  *RebuildJob `json:"rebuild,omitempty"`
}

// rebuildJobs runs rebuilds in the background, one per projection at a time.
type rebuildJobs struct {
	rb     Rebuilder
	log    *slog.Logger
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	jobs map[string]*RebuildJob
}

func newRebuildJobs(rb Rebuilder, log *slog.Logger, now func() time.Time) *rebuildJobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &rebuildJobs{rb: rb, log: log, now: now, ctx: ctx, cancel: cancel, jobs: map[string]*RebuildJob{}}
}

// get returns a copy of the projection's last job.
func (j *rebuildJobs) get(name string) *RebuildJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[name]
	if !ok {
		return nil
	}
	c := *job
	if c.Progress != nil {
		p := *c.Progress
		c.Progress = &p
	}
	return &c
}

func (j *rebuildJobs) names() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]string, 0, len(j.jobs))
	for n := range j.jobs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// start begins a rebuild; false when one of the projection is running.
func (j *rebuildJobs) start(name string, dryRun bool, by string) (*RebuildJob, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if old, ok := j.jobs[name]; ok && old.State == JobRunning {
		c := *old
		return &c, false
	}
	if j.ctx.Err() != nil {
		return nil, false
	}
	job := &RebuildJob{Projection: name, State: JobRunning, DryRun: dryRun, RequestedBy: by, StartedAt: j.now().UTC()}
	j.jobs[name] = job
	j.wg.Add(1)
	go j.run(job)
	c := *job
	return &c, true
}

func (j *rebuildJobs) run(job *RebuildJob) {
	defer j.wg.Done()
	progress := func(p projections.Progress) {
		rp := &RebuildProgress{Generation: p.Generation, Events: p.Events, Total: p.Total, Position: p.Position, Head: p.Head,
			Rate: p.Rate, ETASeconds: p.ETA.Seconds(), ElapsedSeconds: p.Elapsed.Seconds(), Phase: p.Phase}
		if p.Head > 0 {
			rp.Percent = min(100, float64(p.Position)*100/float64(p.Head))
		}
		j.mu.Lock()
		job.Progress = rp
		j.mu.Unlock()
	}
	j.log.Info("rebuild started", "projection", job.Projection, "dryRun", job.DryRun, "by", job.RequestedBy)
	rep, err := j.rb.Rebuild(j.ctx, RebuildRequest{Projection: job.Projection, DryRun: job.DryRun, Progress: progress})
	j.mu.Lock()
	defer j.mu.Unlock()
	job.FinishedAt = j.now().UTC()
	job.Report = rep
	if err != nil {
		job.State, job.Error = JobFailed, err.Error()
		j.log.Error("rebuild failed", "projection", job.Projection, "err", err)
		return
	}
	job.State = JobSucceeded
	if job.Progress != nil {
		job.Progress.Phase = "done"
	}
	j.log.Info("rebuild done", "projection", job.Projection, "differs", rep != nil && rep.Differs)
}

func (j *rebuildJobs) close() {
	j.cancel()
	j.wg.Wait()
}

var noParams = []param{}

// listProjections: GET /v1/admin/projections.
func (a *API) listProjections(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r, noParams); err != nil {
		a.fail(w, r, err)
		return
	}
	views, err := a.projectionViews(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, reply{body: ProjectionList{Items: views}, noPosition: true})
}

// getProjection: GET /v1/admin/projections/{name} — status and rebuild progress.
func (a *API) getProjection(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r, noParams); err != nil {
		a.fail(w, r, err)
		return
	}
	name := chi.URLParam(r, "name")
	views, err := a.projectionViews(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(views, func(v ProjectionView) bool { return v.Name == name })
	if i < 0 {
		a.fail(w, r, fmt.Errorf("projection %q: %w", name, ErrNotFound))
		return
	}
	a.write(w, r, reply{body: views[i], noPosition: true})
}

// projectionViews joins the status source with this server's rebuild jobs.
func (a *API) projectionViews(ctx context.Context) ([]ProjectionView, error) {
	if a.status == nil && a.rebuilder == nil {
		return nil, fmt.Errorf("projection status: %w", ErrUnavailable)
	}
	var sts []projections.Status
	if a.status != nil {
		var err error
		if sts, err = a.status.ProjectionStatus(ctx); err != nil {
			return nil, err
		}
	}
	views := make([]ProjectionView, 0, len(sts))
	for _, st := range sts {
		views = append(views, ProjectionView{Status: st, Position: st.Checkpoint, Rebuild: a.jobs.get(st.Name)})
	}
	for _, n := range a.jobs.names() {
		if !slices.ContainsFunc(views, func(v ProjectionView) bool { return v.Name == n }) {
			views = append(views, ProjectionView{Status: projections.Status{Name: n}, Rebuild: a.jobs.get(n)})
		}
	}
	slices.SortFunc(views, func(x, y ProjectionView) int { return strings.Compare(x.Name, y.Name) })
	return views, nil
}

type rebuildBody struct {
	DryRun bool `json:"dryRun,omitempty" doc:"build and compare, then drop the new generation"`
}

// rebuild: POST /v1/admin/projections/{name}/rebuild — starts a rebuild in the
// background; 202 with Location of the status to poll.
func (a *API) rebuild(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r, noParams); err != nil {
		a.fail(w, r, err)
		return
	}
	var body rebuildBody
	if err := decodeOptional(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.rebuilder == nil {
		a.fail(w, r, fmt.Errorf("rebuilds: %w", ErrUnavailable))
		return
	}
	name := chi.URLParam(r, "name")
	if !slices.Contains(a.rebuilder.Rebuildable(), name) {
		a.fail(w, r, fmt.Errorf("projection %q cannot be rebuilt here (%s): %w", name, strings.Join(a.rebuilder.Rebuildable(), ", "), ErrNotFound))
		return
	}
	p, _ := auth.FromContext(r.Context())
	location := "/v1/admin/projections/" + name
	job, started := a.jobs.start(name, body.DryRun, p.Subject)
	w.Header().Set("Location", location)
	if !started {
		if job == nil {
			httpapi.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "unavailable", "Shutting down", "the server is shutting down"))
			return
		}
		httpapi.WriteProblem(w, r, problem.New(http.StatusConflict, "rebuild-running", "Rebuild running",
			"a rebuild of "+name+" is already running; follow its progress at "+location).With("rebuild", job))
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, job)
}

// decodeOptional strictly decodes an optional small JSON body (empty is fine).
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		return &httpapi.RequestError{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Detail: "the request body is over 4096 bytes"}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &httpapi.RequestError{Status: http.StatusUnsupportedMediaType, Slug: "unsupported-media-type", Detail: "send the body as application/json"}
		}
	}
	return httpapi.DecodeStrict(b, dst, true)
}

// ProjectionList is GET /v1/admin/projections.
type ProjectionList struct {
	Items []ProjectionView `json:"items"`
}
