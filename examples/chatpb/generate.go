// Package chatpb holds the generated Go code of chat.proto, the example
// service of streamtest: Chat, with one RPC of each kind (Post unary,
// Subscribe server streaming, Upload client streaming, Talk bidirectional).
//
// The generated files are checked in, so building or testing streamtest
// never needs the proto toolchain. To regenerate them after editing
// chat.proto, install exactly these versions and run go generate:
//
//	protoc 3.21 (apt-get install protobuf-compiler; protoc --version prints libprotoc 3.21.x)
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	go generate ./examples/chatpb
package chatpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative chat.proto
