package integration

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Schema returns the JSON schema (draft 2020-12 subset, as AsyncAPI 3.0 takes it) of a Go
// value's JSON form, from its struct tags: `json` names and omitempty (omitted fields are
// optional, the rest required), `doc` descriptions, `pattern`. Named struct types become
// references into defs.
func Schema(v any, defs map[string]any) map[string]any {
	return schemaOf(reflect.TypeOf(v), defs)
}

var timeType = reflect.TypeOf(time.Time{})

func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return schemaOf(t.Elem(), defs)
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if _, done := defs[name]; !done {
			defs[name] = nil // placeholder against recursion
			defs[name] = structSchema(t, defs)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic("integration: no JSON schema for " + t.String())
}

func structSchema(t reflect.Type, defs map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := schemaOf(f.Type, defs)
		if doc, p := f.Tag.Get("doc"), f.Tag.Get("pattern"); doc != "" || p != "" {
			c := map[string]any{}
			for k, v := range s {
				c[k] = v
			}
			if _, isRef := c["$ref"]; isRef && doc != "" {
				// A $ref takes no siblings in older tooling; wrap it.
				c = map[string]any{"allOf": []any{s}}
			}
			if doc != "" {
				c["description"] = doc
			}
			if p != "" {
				c["pattern"] = p
			}
			s = c
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// AsyncAPIVersion is the version of the contract document; bump it when the catalogue changes.
const AsyncAPIVersion = "1.0.0"

// AsyncAPI returns the AsyncAPI 3.0 document of the webhooks: one channel (the endpoint's
// URL), one send operation, a message per event type with its Standard Webhooks headers
// and payload schema. It is generated from Definitions and the Go types.
func AsyncAPI() map[string]any {
	defs := map[string]any{}
	Schema(Event{}, defs)
	env := defs["Event"].(map[string]any)
	delete(defs, "Event")
	messages := map[string]any{}
	channelMsgs := map[string]any{}
	var opMsgs []any
	for _, d := range definitions {
		dataRef := Schema(d.Data, defs)
		payload := deepCopy(env)
		props := payload["properties"].(map[string]any)
		props["type"] = map[string]any{"type": "string", "const": d.Type}
		props["version"] = map[string]any{"type": "integer", "const": d.Version}
		props["data"] = dataRef
		req := payload["required"].([]string)
		req = append([]string(nil), req...)
		keep := map[Subject]string{SubjectOrder: "orderId", SubjectProduct: "productId", SubjectInventory: "sku"}[d.Subject]
		for _, f := range []string{"orderId", "productId", "sku"} {
			if f != keep {
				delete(props, f)
			}
		}
		if keep != "" {
			req = append(req, keep)
		}
		payload["required"] = req
		key := d.Type
		messages[key] = map[string]any{
			"name":        d.Type,
			"title":       d.Type + " v" + strconv.Itoa(d.Version),
			"summary":     d.Summary,
			"contentType": "application/json",
			"headers":     map[string]any{"$ref": "#/components/schemas/WebhookHeaders"},
			"payload":     payload,
			"examples":    []any{map[string]any{"payload": example(d)}},
		}
		channelMsgs[key] = map[string]any{"$ref": "#/components/messages/" + key}
		opMsgs = append(opMsgs, map[string]any{"$ref": "#/channels/webhook/messages/" + key})
	}
	defs["WebhookHeaders"] = map[string]any{
		"type":     "object",
		"required": []string{"webhook-id", "webhook-timestamp", "webhook-signature"},
		"properties": map[string]any{
			"webhook-id":        map[string]any{"type": "string", "description": "Message id (msg_…): the same on every retry and replay of one event to one endpoint; deduplicate on it."},
			"webhook-timestamp": map[string]any{"type": "string", "pattern": "^[0-9]+$", "description": "Unix seconds when this attempt was signed; reject if too far from now (5 minutes)."},
			"webhook-signature": map[string]any{"type": "string", "description": "Space-separated v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">, one per active secret (two for 24 h after a rotation)."},
		},
	}
	return map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{
			"title":   "orderengine outgoing events",
			"version": AsyncAPIVersion,
			"description": "Integration events delivered to registered webhook endpoints by HTTP POST, signed per the Standard Webhooks specification, " +
				"at least once, in log order per order (and per product). Register endpoints with POST /v1/webhook-endpoints. " +
				"Unknown fields may be added to data within a version: ignore them.",
		},
		"defaultContentType": "application/json",
		"channels": map[string]any{
			"webhook": map[string]any{
				"address":     "{endpointUrl}",
				"description": "The URL registered for the endpoint; each event is one HTTPS POST. A 2xx answer acknowledges it; anything else (or no answer in 10 s) is retried with backoff; 410 disables the endpoint.",
				"parameters":  map[string]any{"endpointUrl": map[string]any{"description": "The endpoint's registered URL."}},
				"messages":    channelMsgs,
			},
		},
		"operations": map[string]any{
			"sendEvent": map[string]any{
				"action":   "send",
				"channel":  map[string]any{"$ref": "#/channels/webhook"},
				"summary":  "orderengine POSTs each subscribed event to the endpoint.",
				"messages": opMsgs,
			},
		},
		"components": map[string]any{"messages": messages, "schemas": defs},
	}
}

func example(d Definition) map[string]any {
	ev := Event{ID: "3f0c7a4e-9b1d-4c1e-8a51-2f7e1d0c9b11", Type: d.Type, Version: d.Version, OccurredAt: exAt, Position: 4711, Data: d.Example}
	switch d.Subject {
	case SubjectOrder:
		ev.OrderID = "b8990c2e-5d1f-4f7e-9c0a-1d2e3f405162"
	case SubjectProduct:
		ev.ProductID = "5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
	case SubjectInventory:
		ev.SKU = "TEE-RED-M"
	}
	var m map[string]any
	b, _ := ev.Marshal()
	_ = jsonUnmarshal(b, &m)
	return m
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			out[k] = deepCopy(v)
		default:
			out[k] = v
		}
	}
	return out
}
