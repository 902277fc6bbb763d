package recorder

import "google.golang.org/grpc"

// ServerOptions returns the options that install both server interceptors
// (unary and stream), chained after any interceptors already configured.
func (r *Recorder) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(r.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(r.StreamServerInterceptor()),
	}
}

// DialOptions returns the options that install both client interceptors
// (unary and stream), chained after any interceptors already configured.
func (r *Recorder) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(r.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(r.StreamClientInterceptor()),
	}
}
