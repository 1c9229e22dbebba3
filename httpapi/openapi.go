package httpapi

import (
	"slices"
	"strconv"
	"strings"
)

// Param is a query or header parameter of an operation.
type Param struct {
	Name, In, Description string
	Schema                map[string]any
	Required              bool
}

// Header is a response header.
type Header struct {
	Description string
	Schema      map[string]any
}

// Response is an answer of an operation: a JSON body of a Go type (Body, nil for none)
// and its headers.
type Response struct {
	Description string
	Body        any
	// Content overrides the body's media types (e.g. NDJSON beside JSON).
	Content map[string]any
	Headers map[string]Header
}

// Op is one documented route.
type Op struct {
	Method, Path, Summary, Description string
	Tag                                string
	// Roles that may call it; nil is a public route (security: []).
	Roles []string
	// Security overrides the bearer requirement (the webhook's signature).
	Security []any
	Params   []Param
	// Body is the request body's Go type (zero value); BodyOptional when it may be left out.
	Body         any
	BodyOptional bool
	// Responses by status: the successes; the problems come from Errors.
	Responses map[int]Response
	// Errors are the 4xx/5xx problems it can answer, besides 401/403 for routes with
	// Roles (added here).
	Errors []int
}

// ProblemDescriptions are the problem answers every API documents, by status.
var ProblemDescriptions = map[int]string{
	400: "the request is malformed (bad JSON, unknown field or query parameter, bad header)",
	401: "no valid bearer token",
	402: "the payment was declined; nothing changed",
	403: "the token's roles do not allow this route, or the resource is someone else's",
	404: "no such resource (or not yours)",
	405: "the path exists but not with this method; Allow lists the methods",
	409: "conflicts with the current state (concurrent change, stock, state, a request still in progress)",
	412: "If-Match does not match the current version",
	413: "the body is over the size limit",
	415: "the body is not application/json",
	422: "a required field is missing, or the request breaks a rule",
	428: "the route needs If-Match",
	429: "too many requests; see Retry-After",
	503: "a backend or dependency of this route is not available",
}

// PathParams lists the {name} parameters of a path.
func PathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

// OperationID is method + the path's segments after /v1, camel-cased.
func OperationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/")[2:] {
		seg = strings.NewReplacer("{", "", "}", "", "-", "", ".", "").Replace(seg)
		if seg != "" {
			b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
		}
	}
	return b.String()
}

// Paths builds the OpenAPI paths object of ops, defining their types in s.
func Paths(ops []Op, s *Schemas) map[string]any {
	paths := map[string]any{}
	for _, op := range ops {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		o := map[string]any{"summary": op.Summary, "operationId": OperationID(op.Method, op.Path), "tags": []any{op.Tag}}
		desc := op.Description
		if desc == "" {
			desc = op.Summary + "."
		}
		if op.Roles != nil {
			desc += " Roles: " + strings.Join(op.Roles, ", ") + "."
		}
		o["description"] = desc
		params := []any{}
		for _, name := range PathParams(op.Path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range op.Params {
			pm := map[string]any{"name": p.Name, "in": p.In, "schema": p.Schema, "description": p.Description}
			if p.Required {
				pm["required"] = true
			}
			params = append(params, pm)
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Body != nil {
			o["requestBody"] = map[string]any{"required": !op.BodyOptional,
				"content": map[string]any{"application/json": map[string]any{"schema": schemaOf(s, op.Body)}}}
		}
		responses := map[string]any{}
		for status, r := range op.Responses {
			rm := map[string]any{"description": r.Description}
			switch {
			case r.Content != nil:
				rm["content"] = r.Content
			case r.Body != nil:
				rm["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(s, r.Body)}}
			}
			if len(r.Headers) > 0 {
				hs := map[string]any{}
				for name, h := range r.Headers {
					hs[name] = map[string]any{"description": h.Description, "schema": h.Schema}
				}
				rm["headers"] = hs
			}
			responses[strconv.Itoa(status)] = rm
		}
		errs := slices.Clone(op.Errors)
		if op.Roles != nil {
			errs = append(errs, 401, 403)
		}
		slices.Sort(errs)
		for _, st := range slices.Compact(errs) {
			responses[strconv.Itoa(st)] = map[string]any{"$ref": "#/components/responses/Problem" + strconv.Itoa(st)}
		}
		o["responses"] = responses
		switch {
		case op.Security != nil:
			o["security"] = op.Security
		case op.Roles != nil:
			o["security"] = []any{map[string]any{"bearer": []any{}}}
			o["x-roles"] = op.Roles
		default:
			o["security"] = []any{}
		}
		item[strings.ToLower(op.Method)] = o
	}
	return paths
}

// schemaOf is the schema of a Go value's type, or v itself when it is a schema.
func schemaOf(s *Schemas, v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return s.Ref(v)
}

// ProblemSchema is the RFC 9457 problem document.
var ProblemSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"type":     map[string]any{"type": "string", "format": "uri", "description": "stable problem type: https://orderengine.dev/problems/<slug>"},
		"title":    map[string]any{"type": "string"},
		"status":   map[string]any{"type": "integer"},
		"detail":   map[string]any{"type": "string"},
		"instance": map[string]any{"type": "string", "description": "the request path"},
		"errors":   map[string]any{"type": "array", "items": map[string]any{}, "description": "field problems of a 422 validation"},
		"sku":      map[string]any{"type": "string", "description": "the SKU out of stock (out-of-stock)"},
	},
	"required": []any{"type", "title", "status"},
}

// Document assembles an OpenAPI 3.1 document: info, servers, tags, paths, the schemas
// in s, the problem answers and the bearer scheme.
func Document(info map[string]any, servers, tags []any, paths map[string]any, s *Schemas, extraSchemes map[string]any) map[string]any {
	s.Define("Problem", ProblemSchema)
	used := map[string]bool{}
	for _, item := range paths {
		for _, o := range item.(map[string]any) {
			for _, r := range o.(map[string]any)["responses"].(map[string]any) {
				if ref, ok := r.(map[string]any)["$ref"].(string); ok {
					used[strings.TrimPrefix(ref, "#/components/responses/")] = true
				}
			}
		}
	}
	responses := map[string]any{}
	for st, d := range ProblemDescriptions {
		if !used["Problem"+strconv.Itoa(st)] {
			continue
		}
		responses["Problem"+strconv.Itoa(st)] = map[string]any{"description": d,
			"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	}
	schemes := map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
		"description": "a JWT (HS256) with sub and roles; `orderengine token` mints one"}}
	for k, v := range extraSchemes {
		schemes[k] = v
	}
	return map[string]any{
		"openapi":    "3.1.0",
		"info":       info,
		"servers":    servers,
		"tags":       tags,
		"paths":      paths,
		"components": map[string]any{"schemas": s.Components(), "responses": responses, "securitySchemes": schemes},
	}
}
