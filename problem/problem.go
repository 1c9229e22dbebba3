// Package problem writes RFC 9457 problem details (application/problem+json), the one
// error shape of every HTTP API of the engine.
package problem

import (
	"encoding/json"
	"net/http"
)

// TypeBase prefixes every problem type; the slug after it is stable API surface.
const TypeBase = "https://orderengine.dev/problems/"

// ContentType of a problem document.
const ContentType = "application/problem+json"

// Details is a problem document. Extra members go in Extensions.
type Details struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Status     int            `json:"status"`
	Detail     string         `json:"detail,omitempty"`
	Instance   string         `json:"instance,omitempty"`
	Extensions map[string]any `json:"-"`
}

// MarshalJSON flattens Extensions beside the standard members.
func (d Details) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Extensions)+5)
	for k, v := range d.Extensions {
		m[k] = v
	}
	m["type"], m["title"], m["status"] = d.Type, d.Title, d.Status
	if d.Detail != "" {
		m["detail"] = d.Detail
	}
	if d.Instance != "" {
		m["instance"] = d.Instance
	}
	return json.Marshal(m)
}

// New builds a problem whose type is TypeBase+slug.
func New(status int, slug, title, detail string) Details {
	return Details{Type: TypeBase + slug, Title: title, Status: status, Detail: detail}
}

// With returns d with one extension member added.
func (d Details) With(key string, value any) Details {
	ext := make(map[string]any, len(d.Extensions)+1)
	for k, v := range d.Extensions {
		ext[k] = v
	}
	ext[key] = value
	d.Extensions = ext
	return d
}

// At returns d with instance set: the path of the request it answers.
func (d Details) At(instance string) Details {
	d.Instance = instance
	return d
}

// Write sends d as the response.
func Write(w http.ResponseWriter, d Details) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_ = json.NewEncoder(w).Encode(d)
}

// Common problems shared by the APIs.
func NotFound(detail string) Details {
	return New(http.StatusNotFound, "not-found", "Not found", detail)
}

func Validation(detail string) Details {
	return New(http.StatusBadRequest, "validation", "Invalid request", detail)
}

func Unauthorized(detail string) Details {
	return New(http.StatusUnauthorized, "unauthorized", "Authentication required", detail)
}

func Forbidden(detail string) Details {
	return New(http.StatusForbidden, "forbidden", "Forbidden", detail)
}

func Internal() Details {
	return New(http.StatusInternalServerError, "internal", "Internal error", "the server failed to handle the request; it has been logged")
}
