package httpapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// field is one JSON member of a struct.
type field struct {
	name     string
	typ      reflect.Type
	required bool // no omitempty/omitzero: always sent, and required in a request
	doc      string
}

// fields lists t's JSON members as encoding/json sees them (embedded structs flattened).
func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, fields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out = append(out, field{name: name, typ: f.Type, required: !omit, doc: f.Tag.Get("doc")})
	}
	return out
}

// Schemas builds JSON Schemas (OpenAPI 3.1) of Go types as encoding/json marshals them,
// as named components. A struct member without omitempty/omitzero is required (it is
// always sent; a request must send it, see DecodeStrict); a nil-able member that is
// always sent (slice, map, pointer) may be null. Objects admit no other members, so a
// field added to a Go type without the document changing fails the contract test.
type Schemas struct {
	defs  map[string]any
	names map[reflect.Type]string
	// Extra adds keywords (enum, description, format…) to a named schema's property:
	// Extra["Order"]["status"] = {"enum": [...]}.
	extra map[string]map[string]map[string]any
}

// NewSchemas starts an empty set of components.
func NewSchemas() *Schemas {
	return &Schemas{defs: map[string]any{}, names: map[reflect.Type]string{}, extra: map[string]map[string]map[string]any{}}
}

// Name registers the component name of a type (default: the Go type's name); two types
// may not share a name.
func (s *Schemas) Name(v any, name string) *Schemas {
	s.names[reflect.TypeOf(v)] = name
	return s
}

// Annotate adds keywords to the property prop of the component name.
func (s *Schemas) Annotate(name, prop string, kw map[string]any) *Schemas {
	if s.extra[name] == nil {
		s.extra[name] = map[string]map[string]any{}
	}
	s.extra[name][prop] = kw
	return s
}

// Ref returns a $ref to v's type, defining it (and what it refers to) on first use.
func (s *Schemas) Ref(v any) map[string]any { return s.schema(reflect.TypeOf(v)) }

// Define adds a hand-written component (for answers that are not a Go type).
func (s *Schemas) Define(name string, schema map[string]any) { s.defs[name] = schema }

// Components returns the schemas defined so far.
func (s *Schemas) Components() map[string]any { return s.defs }

func (s *Schemas) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"description": "JSON as stored"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return s.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		return s.object(t)
	}
	panic(fmt.Sprintf("httpapi: no JSON schema for %v", t))
}

func (s *Schemas) object(t reflect.Type) map[string]any {
	name, ok := s.names[t]
	if !ok {
		name = t.Name()
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
		if name == "" {
			panic(fmt.Sprintf("httpapi: anonymous struct %v needs a name (Schemas.Name)", t))
		}
		for other, n := range s.names {
			if n == name && other != t {
				panic(fmt.Sprintf("httpapi: %v and %v are both named %s (Schemas.Name)", other, t, name))
			}
		}
		s.names[t] = name
	}
	ref := map[string]any{"$ref": "#/components/schemas/" + name}
	if _, done := s.defs[name]; done {
		return ref
	}
	s.defs[name] = map[string]any{} // placeholder: recursive types end here
	props := map[string]any{}
	var required []string
	for _, f := range fields(t) {
		p := s.schema(f.typ)
		if f.required && nilable(f.typ) {
			p = map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
		}
		if f.doc != "" {
			p = withKeywords(p, map[string]any{"description": f.doc})
		}
		if kw := s.extra[name][f.name]; kw != nil {
			p = withKeywords(p, kw)
		}
		props[f.name] = p
		if f.required {
			required = append(required, f.name)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	s.defs[name] = o
	return ref
}

func nilable(t reflect.Type) bool {
	if t == rawType {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// withKeywords adds kw to a schema; a $ref gets them beside it (allowed in 3.1).
func withKeywords(p, kw map[string]any) map[string]any {
	out := make(map[string]any, len(p)+len(kw))
	for k, v := range p {
		out[k] = v
	}
	for k, v := range kw {
		out[k] = v
	}
	return out
}
