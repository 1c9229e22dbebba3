package webhooks

import (
	"strconv"
	"strings"

	"github.com/orderengine/orderengine/httpapi"
)

// operation describes one route for the OpenAPI fragment.
type operation struct {
	method, path, summary string
	admin                 bool
	body                  string // request schema, "" for none
	ok                    int
	result                string // response schema, "" for none
	idempotent            bool
	query                 []string
}

// operations are this package's routes; TestOpenAPIMatchesRouter keeps them and the router equal.
var operations = []operation{
	{"GET", "/v1/asyncapi.json", "The AsyncAPI 3.0 document of the outgoing events", false, "", 200, "", false, nil},
	{"POST", "/v1/webhook-endpoints", "Register a webhook endpoint (the signing secret is shown only in this answer)", true, "CreateWebhookEndpoint", 201, "WebhookEndpointWithSecret", true, nil},
	{"GET", "/v1/webhook-endpoints", "List webhook endpoints", true, "", 200, "WebhookEndpointList", false, nil},
	{"GET", "/v1/webhook-endpoints/{id}", "A webhook endpoint", true, "", 200, "WebhookEndpoint", false, nil},
	{"PATCH", "/v1/webhook-endpoints/{id}", "Change url, event types, description or enabled (enabling resumes from the checkpoint)", true, "UpdateWebhookEndpoint", 200, "WebhookEndpoint", false, nil},
	{"DELETE", "/v1/webhook-endpoints/{id}", "Delete a webhook endpoint", true, "", 204, "", false, nil},
	{"POST", "/v1/webhook-endpoints/{id}/rotate-secret", "New signing secret; the old one keeps signing beside it for 24 h", true, "", 200, "WebhookEndpointWithSecret", false, nil},
	{"POST", "/v1/webhook-endpoints/{id}/test", "Send a signed ping event now and report the answer", true, "", 200, "WebhookPingResult", true, nil},
	{"GET", "/v1/webhook-endpoints/{id}/deliveries", "The endpoint's delivery log, newest first: attempts, status codes, latency, next try", true, "", 200, "WebhookDeliveryPage", false, []string{"limit", "cursor"}},
	{"POST", "/v1/webhook-endpoints/{id}/replay", "Deliver the endpoint's events again from a log position or time", true, "WebhookReplay", 202, "WebhookReplayAccepted", true, nil},
	{"POST", "/v1/webhook-deliveries/{id}/retry", "Send one delivery again (given up, or waiting for its next try)", true, "", 202, "WebhookRetryAccepted", true, nil},
}

type props = map[string]any

var (
	str      = props{"type": "string"}
	integer  = props{"type": "integer", "format": "int64"}
	boolean  = props{"type": "boolean"}
	dateTime = props{"type": "string", "format": "date-time"}
)

func ref(name string) props { return props{"$ref": "#/components/schemas/" + name} }
func arr(items any) props   { return props{"type": "array", "items": items} }
func object(p props, required ...string) props {
	o := props{"type": "object", "properties": p}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}
func strict(p props, required ...string) props {
	o := object(p, required...)
	o["additionalProperties"] = false
	return o
}

func eventTypes() props {
	return props{"type": "array", "items": props{"type": "string", "description": "an event type of GET /v1/asyncapi.json"},
		"description": "empty: every event type"}
}

func endpointProps(withSecret bool) props {
	p := props{"id": str, "url": str, "eventTypes": arr(str), "description": str, "enabled": boolean, "disabledReason": str,
		"createdAt": dateTime, "updatedAt": dateTime, "startPosition": integer, "replayGeneration": integer, "replayFrom": integer,
		"previousSecretExpiresAt": dateTime}
	if withSecret {
		p["secret"] = props{"type": "string", "pattern": "^whsec_", "description": "shown once; base64 after whsec_ is the HMAC key"}
	}
	return p
}

// OpenAPISchemas are the request and response schemas of the admin routes.
func OpenAPISchemas() map[string]any {
	attempt := object(props{"deliveryId": str, "eventId": str, "eventType": str, "position": integer, "orderId": str, "productId": str,
		"attempt": integer, "at": dateTime, "statusCode": integer, "latencyMs": integer, "error": str,
		"outcome":       props{"type": "string", "enum": []string{OutcomeDelivered, OutcomeFailed, OutcomeGaveUp, OutcomeGone}},
		"nextAttemptAt": dateTime, "firstAttemptAt": dateTime, "manual": boolean, "generation": integer})
	return map[string]any{
		"CreateWebhookEndpoint": strict(props{"url": props{"type": "string", "format": "uri", "description": "https unless the server allows http; no private addresses unless allowed"},
			"eventTypes": eventTypes(), "description": props{"type": "string", "maxLength": 500}}, "url"),
		"UpdateWebhookEndpoint":     strict(props{"url": str, "eventTypes": eventTypes(), "description": str, "enabled": boolean}),
		"WebhookEndpoint":           object(endpointProps(false), "id", "url", "eventTypes", "enabled"),
		"WebhookEndpointWithSecret": object(endpointProps(true), "id", "url", "eventTypes", "enabled"),
		"WebhookEndpointList":       object(props{"items": arr(ref("WebhookEndpoint"))}, "items"),
		"WebhookPingResult":         object(props{"deliveryId": str, "ok": boolean, "statusCode": integer, "latencyMs": integer, "error": str}, "deliveryId", "ok"),
		"WebhookAttempt":            attempt,
		"WebhookDelivery": object(props{"id": str, "eventId": str, "eventType": str, "position": integer, "orderId": str, "productId": str,
			"status": props{"type": "string", "enum": []string{"delivered", "pending", "failed"}}, "nextAttemptAt": dateTime,
			"attempts": arr(ref("WebhookAttempt"))}, "id", "status", "attempts"),
		"WebhookDeliveryPage":   object(props{"items": arr(ref("WebhookDelivery")), "nextCursor": str}, "items"),
		"WebhookReplay":         strict(props{"fromPosition": props{"type": "integer", "minimum": 0, "description": "first log position delivered again (inclusive)"}, "fromTime": dateTime}),
		"WebhookReplayAccepted": object(props{"endpoint": ref("WebhookEndpoint"), "fromPosition": integer}, "endpoint", "fromPosition"),
		"WebhookRetryAccepted":  object(props{"deliveryId": str, "status": str}, "deliveryId", "status"),
	}
}

// OpenAPIPaths are the admin routes as OpenAPI 3.1 path items. With OpenAPISchemas they
// fit writeapi.Config.OpenAPIMerge (which also provides the Problem schema).
func OpenAPIPaths() map[string]any {
	paths := map[string]any{}
	problemResp := props{"description": "problem", "content": props{"application/problem+json": props{"schema": ref("Problem")}}}
	for _, op := range operations {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		o := props{"summary": op.summary, "operationId": operationID(op), "tags": []string{"webhooks"}}
		var params []any
		for _, seg := range strings.Split(op.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, props{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": str})
			}
		}
		for _, q := range op.query {
			params = append(params, props{"name": q, "in": "query", "schema": str})
		}
		if op.idempotent {
			params = append(params, props{"name": "Idempotency-Key", "in": "header", "schema": props{"type": "string", "maxLength": 255}})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = props{"required": true, "content": props{"application/json": props{"schema": ref(op.body)}}}
		}
		resp := props{"description": "success"}
		if op.result != "" {
			resp["content"] = props{"application/json": props{"schema": ref(op.result)}}
		}
		if op.path == "/v1/asyncapi.json" {
			resp["content"] = props{"application/json": props{"schema": props{"type": "object"}}}
		}
		o["responses"] = props{strconv.Itoa(op.ok): resp, "default": problemResp}
		if op.admin {
			o["security"] = []any{props{"bearer": []any{}}}
			o["x-roles"] = []string{"admin"}
		}
		item[strings.ToLower(op.method)] = o
	}
	return paths
}

// OpenAPI returns the fragment as writeapi.Config.OpenAPIMerge takes it.
func OpenAPI() (paths, schemas map[string]any) { return OpenAPIPaths(), OpenAPISchemas() }

func operationID(op operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(op.path, "/")[2:] {
		seg = strings.Trim(seg, "{}")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '.' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// OpenAPIOps are the routes as httpapi operations, with their schemas defined in s: the
// form writeapi.Config.OpenAPIMerge takes, so that they join the served /v1/openapi.json
// with the shared problem answers.
func OpenAPIOps(s *httpapi.Schemas) []httpapi.Op {
	for name, schema := range OpenAPISchemas() {
		s.Define(name, schema.(props))
	}
	var ops []httpapi.Op
	for _, op := range operations {
		o := httpapi.Op{Method: op.method, Path: op.path, Summary: op.summary, Tag: "Webhooks"}
		resp := httpapi.Response{Description: op.summary}
		if op.result != "" {
			resp.Body = ref(op.result)
		}
		o.Responses = map[int]httpapi.Response{op.ok: resp}
		if !op.admin {
			// The AsyncAPI document: public, takes nothing that can be wrong (405 as for
			// /v1/openapi.json).
			o.Tag, o.Errors = "Meta", []int{405}
			resp.Body = props{"type": "object", "description": "an AsyncAPI 3.0 document"}
			o.Responses[op.ok] = resp
			ops = append(ops, o)
			continue
		}
		o.Roles = []string{"admin"}
		o.Errors = []int{400}
		if strings.Contains(op.path, "{id}") {
			o.Errors = append(o.Errors, 404)
		}
		if op.body != "" {
			o.Body = ref(op.body)
			o.Errors = append(o.Errors, 413, 415, 422)
		} else if op.method == "POST" {
			o.Errors = append(o.Errors, 413, 415)
		}
		for _, q := range op.query {
			o.Params = append(o.Params, httpapi.Param{Name: q, In: "query", Schema: str,
				Description: map[string]string{"limit": "page size, 1 to 100 (default 20)", "cursor": "nextCursor of the previous page"}[q]})
		}
		if op.idempotent {
			o.Params = append(o.Params, httpapi.Param{Name: "Idempotency-Key", In: "header", Schema: props{"type": "string", "maxLength": 255},
				Description: "replays the first answer to a retried request (create: derives the endpoint id from it)"})
			o.Errors = append(o.Errors, 409, 422)
		}
		if op.method == "POST" && op.path == "/v1/webhook-endpoints" {
			o.Errors = append(o.Errors, 409)
			o.Responses[200] = httpapi.Response{Description: "a retried create (same Idempotency-Key): the endpoint, without its secret", Body: ref("WebhookEndpoint")}
		}
		ops = append(ops, o)
	}
	return ops
}
