package privacy_test

import (
	"reflect"
	"testing"

	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/privacy"
)

// TestEveryPersonalFieldHasASubject: an event type that carries personal data but names
// no data subject would be stored in clear (Store seals only under a subject's key).
func TestEveryPersonalFieldHasASubject(t *testing.T) {
	reg := eventregistry.New()
	rules := privacy.RulesFromRegistry(reg)
	for _, name := range reg.Names() {
		p, _ := reg.Prototype(name)
		if hasPersonal(reflect.TypeOf(p)) {
			if _, ok := rules[name]; !ok {
				t.Errorf("%s carries personal fields but no privacy:\"subject\" field: it would be stored in clear", name)
			}
		}
	}
}

func hasPersonal(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("privacy") == "personal" || hasPersonal(f.Type) {
			return true
		}
	}
	return false
}
