// Package protowalk answers, per message type, whether the type or a
// message type reachable through its fields (a map's values included, at
// any depth) has a property, such as being a google.protobuf.Any or having
// extension ranges. The answer is cached per type.
package protowalk

import (
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Property is a property of message types, tested on a type and on every
// message type reachable from it.
type Property struct {
	has   func(protoreflect.MessageDescriptor) bool
	cache sync.Map // protoreflect.MessageDescriptor → bool
}

// Extendable is whether a message type, or one reachable from it, has
// extension ranges: whether a message of the type can hold extensions.
var Extendable = New(func(md protoreflect.MessageDescriptor) bool { return md.ExtensionRanges().Len() > 0 })

// New returns the property that has tests on one message type.
func New(has func(protoreflect.MessageDescriptor) bool) *Property {
	return &Property{has: has}
}

// Reaches reports whether md, or a message type reachable from md through
// its fields, has the property.
func (p *Property) Reaches(md protoreflect.MessageDescriptor) bool {
	if v, ok := p.cache.Load(md); ok {
		return v.(bool)
	}
	v := p.walk(md, make(map[protoreflect.FullName]bool))
	p.cache.Store(md, v)
	return v
}

func (p *Property) walk(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false // on the path already, or found without the property
	}
	seen[md.FullName()] = true
	if p.has(md) {
		return true
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if sub := fd.Message(); sub != nil && p.walk(sub, seen) {
			return true
		}
	}
	return false
}

// SetFields reports whether visit returns true for a field set in m, or
// in a message set within m at any depth (in a singular field, a list, or
// a map's values). visit sees a field before the messages in it.
func SetFields(m protoreflect.Message, visit func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if visit(fd, v) {
			found = true
			return false
		}
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				l := v.List()
				for i := 0; i < l.Len() && !found; i++ {
					found = SetFields(l.Get(i).Message(), visit)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = SetFields(mv.Message(), visit)
					return !found
				})
			}
		case fd.Message() != nil:
			found = SetFields(v.Message(), visit)
		}
		return !found
	})
	return found
}
