package recorder

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/streamtest/streamtest/internal/protowalk"
)

// Messages are recorded as their marshaled bytes and decoded with
// protoregistry.GlobalTypes as the extension resolver. An extension whose
// type is not registered there (built at run time with dynamicpb, or kept
// in a registry of the program's own) would come back as unknown fields,
// so a message holding one is kept as a clone instead (see keepClone).
// Checking every message would cost every message a walk; only messages
// of a type that can hold extensions, itself or in a message it contains,
// are walked.

// extCache remembers the answer of mayHoldExtensions for the last message
// type seen by one side of one stream, which sends (or receives) messages
// of one type: a comparison instead of a lookup in protowalk.Extendable
// for every message. It is not safe for concurrent use: a stream's sender
// and receiver each have their own.
type extCache struct {
	typ protoreflect.MessageType
	may bool
}

// mayHoldExtensions is the package's mayHoldExtensions for messages of
// type typ, through the cache c (which may be nil).
func (c *extCache) mayHoldExtensions(typ protoreflect.MessageType) bool {
	if c == nil {
		return mayHoldExtensions(typ.Descriptor())
	}
	if c.typ != typ {
		c.typ, c.may = typ, mayHoldExtensions(typ.Descriptor())
	}
	return c.may
}

// mayHoldExtensions reports whether a message of type md, or a message
// within it at any depth, has extension ranges.
func mayHoldExtensions(md protoreflect.MessageDescriptor) bool {
	return protowalk.Extendable.Reaches(md)
}

// unresolvedExtensions reports whether m, or a message within it, holds an
// extension field whose type GlobalTypes does not know.
func unresolvedExtensions(m protoreflect.Message) bool {
	return protowalk.SetFields(m, func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !fd.IsExtension() {
			return false
		}
		_, err := protoregistry.GlobalTypes.FindExtensionByNumber(fd.ContainingMessage().FullName(), fd.Number())
		return err != nil
	})
}
