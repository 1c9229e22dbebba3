package webhooks_test

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/webhooks"
)

// TestHelperWorkerProcess is the worker process of TestWorkerKilledWithSIGKILL; it does
// nothing in a normal run.
func TestHelperWorkerProcess(t *testing.T) {
	path := os.Getenv("WEBHOOKS_HELPER_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	store, err := sqlite.Open(ctx, path, sqlite.Options{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eps, err := webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: store, SecretKey: testKey, Security: webhooks.Security{AllowHTTP: true, AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := webhooks.NewWorker(webhooks.WorkerConfig{Store: store, Endpoints: eps, Lease: webhooks.NewLocalLease(),
		Translator: integration.NewTranslator(domain.NewDomainRegistry()), Timeout: 2 * time.Second,
		Schedule: []time.Duration{10 * time.Millisecond}, PollInterval: 10 * time.Millisecond, CheckpointEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Run(ctx)
}

// TestWorkerKilledWithSIGKILL runs the worker in a child process, kills it with SIGKILL in
// the middle of deliveries, runs another: everything arrives, in order per order, and
// every duplicate has the webhook-id of its first delivery.
func TestWorkerKilledWithSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	e := newEnv(t)
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	if e.eps, err = webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: store, SecretKey: testKey, Security: webhooks.Security{AllowHTTP: true, AllowPrivate: true}}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	rc.delay = 2 * time.Millisecond
	e.register(rc)
	orders := []string{"k1", "k2", "k3", "k4", "k5", "k6"}
	want := 0
	for step := range 6 {
		for _, o := range orders {
			e.orderStep(o, step)
			want++
		}
	}
	store.Close()
	spawn := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "WEBHOOKS_HELPER_DB="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kills := 0
	for len(rc.distinct()) < want && kills < 10 {
		cmd := spawn()
		before := len(rc.received())
		waitFor(t, "deliveries by the child", 20*time.Second, func() bool {
			return len(rc.received()) >= before+8 || len(rc.distinct()) == want
		})
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
	}
	last := spawn()
	waitFor(t, "every event", 20*time.Second, func() bool { return len(rc.distinct()) == want })
	_ = last.Process.Signal(syscall.SIGTERM)
	_ = last.Wait()
	got := rc.received()
	checkOrder(t, got)
	first := map[string]string{}
	for _, r := range got {
		if id, ok := first[r.id]; ok && id != r.ev.ID {
			t.Fatalf("webhook-id %s carried two events", r.id)
		}
		first[r.id] = r.ev.ID
	}
	t.Logf("%d events, %d requests accepted over %d SIGKILLs", want, len(got), kills)
	if kills == 0 {
		t.Fatal("the child was never killed mid-delivery")
	}
}
