// Package nsallocv1 is the nsalloc.v1 API: the messages and the
// NamespaceService client and server generated from nsalloc.proto, and the
// documented descriptors that the server's reflection serves.
package nsallocv1

import (
	_ "embed"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// descriptorSet is `buf build --as-file-descriptor-set` of proto/: this
// package's files and their imports, with comments. The generated code
// strips comments from the descriptors it registers; reflection serves these
// instead, so that `grpcurl describe` shows the documentation.
//
//go:embed nsalloc.binpb
var descriptorSet []byte

// DocumentedFiles returns the descriptors of the nsalloc proto files and
// their imports, comments included.
func DocumentedFiles() (*protoregistry.Files, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(descriptorSet, &set); err != nil {
		return nil, fmt.Errorf("nsallocv1: decode the embedded descriptor set: %w", err)
	}
	return protodesc.NewFiles(&set)
}
