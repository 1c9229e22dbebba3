package orderops

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

// hangingGateway stands for a process that dies while the gateway call is in flight: it
// says so on stdout and never answers.
type hangingGateway struct{}

func (hangingGateway) Capture(context.Context, payment.CaptureRequest) (payment.Result, error) {
	return payment.Result{}, fmt.Errorf("not in this test")
}
func (hangingGateway) Refund(context.Context, payment.RefundRequest) (payment.Result, error) {
	return payment.Result{}, fmt.Errorf("not in this test")
}
func (hangingGateway) IncrementAuthorization(ctx context.Context, _ payment.IncrementRequest) (payment.Result, error) {
	fmt.Println("AT-GATEWAY")
	<-ctx.Done()
	return payment.Result{}, ctx.Err()
}

// noCheckouts: the child process runs no saga; no order is being cancelled.
type noCheckouts struct{}

func (noCheckouts) Status(context.Context, string) (checkout.Status, error) {
	return checkout.Status{}, domain.ErrNotFound
}
func (noCheckouts) RequestCancel(context.Context, string, string, commands.Meta) (checkout.Status, error) {
	return checkout.Status{}, domain.ErrNotFound
}

// TestEditKill9MidConfirm confirms an edit in a child process on the same SQLite file and
// kills it with SIGKILL while its gateway call is in flight (after the plan and the
// reservations were recorded). Another process then resumes the edit: it is applied
// exactly once (one increment, one commit, one restock), and nothing else could touch the
// order's lines meanwhile.
func TestEditKill9MidConfirm(t *testing.T) {
	if arg := os.Getenv("ORDERENGINE_EDIT_KILL_CHILD"); arg != "" {
		editKillChild(arg)
		return
	}
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("CAP", 1500, 5)
	id := e.orderOf(lq("TEE", 2))
	eds := e.edits()
	v, err := eds.Open(e.ctx, id, admin)
	if err != nil {
		t.Fatal(err)
	}
	eid := v.Edit.ID
	if _, err := eds.AddItem(e.ctx, id, eid, "CAP", 1, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds.SetQuantity(e.ctx, id, eid, "TEE", 1, admin); err != nil {
		t.Fatal(err)
	}
	var path string
	if err := e.store.(*sqlite.Store).DB().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEditKill9MidConfirm$")
	cmd.Env = append(os.Environ(), "ORDERENGINE_EDIT_KILL_CHILD="+path+"|"+id+"|"+eid)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "AT-GATEWAY") {
				reached <- true
				return
			}
		}
		reached <- false
	}()
	select {
	case ok := <-reached:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("the child ended before its gateway call")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the child never reached the gateway")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	o := e.orderState(id)
	if !o.EditConfirming() || e.inv("CAP").Totals().Reserved != 1 {
		t.Fatalf("after kill -9: edit %+v, CAP %+v", o.Edit, e.inv("CAP").Totals())
	}
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Carrier: "DHL", TrackingNumber: "T"}, admin); err == nil {
		t.Fatal("a fulfilment went through during the interrupted confirmation")
	}
	if err := eds.Resume(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds.Confirm(e.ctx, id, eid, admin); err != nil { // a retry of the request: nothing more
		t.Fatal(err)
	}
	o = e.checkMoney(id)
	if o.Edit.Status != domain.EditApplied || len(o.AppliedEdits) != 1 || e.sim.Calls("increment") != 1 || o.Pending() {
		t.Fatalf("after resume: %+v, %d increments", o.Edit, e.sim.Calls("increment"))
	}
	if c, t2 := e.inv("CAP").Totals(), e.inv("TEE").Totals(); c.OnHand != 4 || c.Reserved != 0 || t2.OnHand != 9 {
		t.Fatalf("stock after resume: CAP %+v TEE %+v", c, t2)
	}
	if e.countFor("order-"+id, "order.edit_applied", id) != 1 || e.countFor("inventory-CAP", "inventory.committed", domain.EditStockOwner(id, o.Edit.ConfirmationID)) != 1 {
		t.Fatal("applied or committed more than once")
	}
}

func editKillChild(arg string) {
	parts := strings.Split(arg, "|")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	s, err := sqlite.Open(context.Background(), parts[0], sqlite.Options{})
	if err != nil {
		fail(err)
	}
	rt := newRuntime(s)
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		fail(err)
	}
	ops, err := New(Config{Runtime: rt, Gateway: hangingGateway{}, Checkouts: noCheckouts{}})
	if err != nil {
		fail(err)
	}
	eds, err := NewEdits(EditsConfig{Ops: ops, Catalog: svc})
	if err != nil {
		fail(err)
	}
	_, err = eds.Confirm(context.Background(), parts[1], parts[2], admin)
	fail(fmt.Errorf("confirm returned: %v", err))
}
