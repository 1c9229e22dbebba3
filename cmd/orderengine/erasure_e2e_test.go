package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

// zelda's personal data: no API answer and no database byte may hold it after erasure.
var zeldaAddress = map[string]any{"name": "Zelda Quixotic", "line1": "Wisteria Lane 4711", "city": "Fairviewton", "postalCode": "90210", "country": "US"}

var zeldaSecrets = []string{"Zelda Quixotic", "Wisteria Lane 4711", "Fairviewton", payment.TokenVisa}

// TestE2EErasure: before erasure an admin sees zelda's address; after
// POST /v1/customers/zelda/erasure no API answer, read model, export or database file
// holds her name, address or payment token, a full rebuild keeps it so, her order's
// totals stay, and the hash chains still verify.
func TestE2EErasure(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "events.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		e := newE2E(t, s, 0)
		erasureFlow(t, e, s, func(t *testing.T) {
			// SQLite keeps old page images in the WAL until a checkpoint (automatic
			// every 1000 pages; docs/privacy.md): checkpoint both databases, then scan.
			if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			rm, err := sql.Open("sqlite", filepath.Join(e.app.dataDir, "readmodels.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rm.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			rm.Close()
			files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "events.db*"))
			more, _ := filepath.Glob(filepath.Join(e.app.dataDir, "*.db*"))
			for _, f := range append(files, more...) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, secret := range zeldaSecrets {
					if bytes.Contains(b, []byte(secret)) {
						t.Errorf("%s holds %q", filepath.Base(f), secret)
					}
				}
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		s := openPostgresTier(t).(*postgres.Store)
		e := newE2E(t, s, 0)
		erasureFlow(t, e, s, func(t *testing.T) {
			ctx := context.Background()
			rows, err := s.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, s.Schema())
			if err != nil {
				t.Fatal(err)
			}
			tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(tables) == 0 {
				t.Fatalf("tables %v %v", tables, err)
			}
			for _, tb := range tables {
				var dump string
				q := fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s t`, pgx.Identifier{s.Schema(), tb}.Sanitize())
				if err := s.Pool().QueryRow(ctx, q).Scan(&dump); err != nil {
					t.Fatal(err)
				}
				for _, secret := range zeldaSecrets {
					if strings.Contains(dump, secret) {
						t.Errorf("table %s holds %q", tb, secret)
					}
				}
			}
		})
	})
}

func erasureFlow(t *testing.T, e *e2e, raw eventstore.Store, scan func(t *testing.T)) {
	admin, zelda := e.token("root", auth.RoleAdmin), e.token("zelda", auth.RoleCustomer)
	auditor, analyst := e.token("audrey", auth.RoleAuditor), e.token("ann", auth.RoleAnalyst)
	e.product(admin, "ERASE-1", 1500, 10)
	cart := e.cart(zelda, map[string]int64{"ERASE-1": 2})
	e.must(200, e.do("PUT", "/v1/carts/"+cart+"/shipping-address", zelda, zeldaAddress))
	r := e.do("POST", "/v1/orders?wait=30s", zelda, map[string]any{
		"cartId": cart, "shippingAddress": zeldaAddress, "billingAddress": zeldaAddress, "payment": map[string]any{"token": payment.TokenVisa},
	}, "Idempotency-Key", "zelda-order-1")
	if r.status != 201 && r.status != 202 {
		t.Fatalf("place order: %d %s", r.status, r.body)
	}
	id, _ := r.field("order", "id").(string)
	if id == "" {
		id, _ = r.field("id").(string)
	}
	if st := e.awaitCheckout(zelda, id); st.field("terminal") != true {
		t.Fatalf("checkout: %s", st.body)
	}
	order := func() httpResp {
		pos := e.must(200, e.do("GET", "/v1/admin/events?limit=1", admin, nil)).field("head")
		return e.must(200, e.do("GET", fmt.Sprintf("/v1/orders/%s?minPosition=%.0f", id, pos), admin, nil))
	}
	before := order()
	if got := before.field("shippingAddress", "name"); got != "Zelda Quixotic" {
		t.Fatalf("before erasure the admin sees %v: %s", got, before.body)
	}
	grand := before.field("totals", "grandTotal", "amount")

	er := e.must(200, e.do("POST", "/v1/customers/zelda/erasure", admin, nil))
	if er.field("alreadyErased") != false {
		t.Fatalf("erasure: %s", er.body)
	}
	after := order()
	if after.field("shippingAddress", "name") != "[erased]" || after.field("billingAddress", "line1") != "[erased]" ||
		after.field("shippingAddress", "country") != "US" || after.field("totals", "grandTotal", "amount") != grand {
		t.Fatalf("after erasure: %s", after.body)
	}

	// A full rebuild of the orders projection keeps it erased.
	e.must(202, e.do("POST", "/v1/admin/projections/orders/rebuild", admin, nil))
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := e.must(200, e.do("GET", "/v1/admin/projections/orders", admin, nil))
		if st := p.field("rebuild", "state"); st != "running" {
			if st == "failed" {
				t.Fatalf("rebuild: %s", p.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rebuild did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rebuilt := order(); rebuilt.field("shippingAddress", "name") != "[erased]" || rebuilt.field("totals", "grandTotal", "amount") != grand {
		t.Fatalf("after a rebuild: %s", rebuilt.body)
	}

	// No answer holds the plaintext.
	answers := []httpResp{
		e.do("GET", "/v1/orders/"+id, admin, nil),
		e.do("GET", "/v1/orders/"+id, zelda, nil),
		e.do("GET", "/v1/orders/"+id+"?version=0", admin, nil),
		e.do("GET", "/v1/orders?customerId=zelda", admin, nil),
		e.do("GET", "/v1/orders/"+id+"/events", admin, nil),
		e.do("GET", "/v1/orders/"+id+"/events", auditor, nil),
		e.do("GET", "/v1/orders/"+id+"/events", zelda, nil),
		e.do("GET", "/v1/carts/"+cart, admin, nil),
		e.do("GET", "/v1/admin/events?limit=10000", admin, nil, "Accept", "application/x-ndjson"),
		e.do("GET", "/v1/admin/events?limit=10000", analyst, nil, "Accept", "application/x-ndjson"),
		// The idempotent replay of the order answer.
		e.do("POST", "/v1/orders?wait=30s", zelda, map[string]any{
			"cartId": cart, "shippingAddress": zeldaAddress, "billingAddress": zeldaAddress, "payment": map[string]any{"token": payment.TokenVisa},
		}, "Idempotency-Key", "zelda-order-1"),
	}
	for i, a := range answers {
		if a.status >= 500 {
			t.Fatalf("answer %d: %d %s", i, a.status, a.body)
		}
		for _, s := range zeldaSecrets {
			if bytes.Contains(a.body, []byte(s)) {
				t.Errorf("answer %d holds %q: %s", i, s, short(a.body))
			}
		}
	}
	if replay := answers[len(answers)-1]; replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the order replay was not a replay: %d %s", replay.status, replay.body)
	}
	scan(t)
	if rep, err := eventstore.VerifyChains(context.Background(), raw, "", nil); err != nil || rep.Broken != nil {
		t.Fatalf("audit verify after erasure: %+v %v", rep, err)
	}
}

// TestCustomersEraseCLI: `orderengine customers erase ID` erases once, says so when
// repeated, and a missing id is a usage error (exit 2).
func TestCustomersEraseCLI(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, env("ORDERENGINE_DATA_DIR", dir), &out, &errOut)
		return exitCode(err, &errOut), out.String(), errOut.String()
	}
	if code, out, errOut := run("customers", "erase", "zelda"); code != 0 || !strings.Contains(out, "customer zelda erased") {
		t.Fatalf("erase: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("customers", "erase", "zelda"); code != 0 || !strings.Contains(out, "already erased") {
		t.Fatalf("erase again: %d %q", code, out)
	}
	if code, _, _ := run("customers", "erase"); code != 2 {
		t.Fatalf("no id: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "master-key")); err != nil {
		t.Fatalf("the embedded tier made no master key: %v", err)
	}
}
