package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/privacy"
)

// masterKey resolves the crypto-shredding master key: --master-key
// (ORDERENGINE_MASTER_KEY: 64 hex digits or base64 of 32 bytes), else --master-key-file
// (created when missing), else, for the embedded tier only, <data-dir>/master-key
// (created when missing), like the JWT secret.
func masterKey(c Config) ([]byte, error) {
	switch {
	case c.MasterKey != "":
		k, err := privacy.ParseMasterKey(c.MasterKey)
		if err != nil {
			return nil, usagef("--master-key: %v", err)
		}
		return k, nil
	case c.MasterKeyFile != "":
		return privacy.LoadOrCreateMasterKey(c.MasterKeyFile)
	}
	if kind, _, _ := parseStoreURL(c.Events); kind != kindSQLite {
		return nil, usagef("set --master-key (ORDERENGINE_MASTER_KEY) or --master-key-file (ORDERENGINE_MASTER_KEY_FILE): only the embedded tier generates a master key in its data dir")
	}
	return privacy.LoadOrCreateMasterKey(filepath.Join(c.DataDir, "master-key"))
}

// sealedStore wraps store so personal data is sealed on append and opened on read
// (package privacy). The key table lives in the events database: the SQLite file or the
// PostgreSQL store's schema; with KurrentDB (whose streams cannot be deleted) in a
// SQLite file keys.db in the data dir (single host: see docs/privacy.md).
func sealedStore(ctx context.Context, c Config, store eventstore.Store, log *slog.Logger) (*privacy.Store, error) {
	mk, err := masterKey(c)
	if err != nil {
		return nil, err
	}
	wrap, err := privacy.NewMasterKey(mk)
	if err != nil {
		return nil, err
	}
	var keys privacy.KeyStore
	switch s := store.(type) {
	case *sqlite.Store:
		keys, err = privacy.NewSQLiteKeys(ctx, s.DB())
	case *postgres.Store:
		keys, err = privacy.NewPostgresKeys(ctx, s.Pool(), s.Schema())
	default:
		log.Warn("the event store has no key table: data keys live in keys.db in the data dir", "store", fmt.Sprintf("%T", store))
		var db *sql.DB
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		if db, err = sql.Open("sqlite", "file:"+filepath.Join(c.DataDir, "keys.db")+"?"+q.Encode()); err == nil {
			db.SetMaxOpenConns(1)
			keys, err = privacy.NewSQLiteKeys(ctx, db)
		}
	}
	if err != nil {
		return nil, err
	}
	reg := eventregistry.New()
	return privacy.NewStore(store, privacy.NewKeyring(keys, wrap, privacy.Options{}), privacy.Rules(reg)), nil
}

// eraser erases through the sealing store, then drops the command side's cached states
// (which may hold the customer's data opened before the erasure).
type eraser struct {
	store *privacy.Store
	rt    *commands.Runtime
}

func (e eraser) Erase(ctx context.Context, customerID, actor string, now time.Time) (privacy.Erasure, error) {
	res, err := e.store.Erase(ctx, customerID, actor, now)
	if err == nil {
		e.rt.ForgetCached()
	}
	return res, err
}
