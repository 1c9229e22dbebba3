package supervise

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/orderengine/orderengine/problem"
)

// Handler serves readiness: 200 with every component's status when all are fine, else
// 503 problem+json naming the failing components, with the same list of statuses.
func (s *Supervisor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		rep := s.Check(ctx)
		w.Header().Set("Cache-Control", "no-store")
		if !rep.Ready {
			problem.Write(w, problem.New(http.StatusServiceUnavailable, "not-ready", "Not ready",
				"not ready: "+strings.Join(rep.Failing, ", ")).
				With("failing", rep.Failing).With("components", rep.Components))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ready", "components": rep.Components})
	})
}
