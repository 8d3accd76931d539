module github.com/acceptgate/acceptgate/examples/grpc

go 1.25.0

// A module of its own so that the library's go.mod stays free of gRPC. The
// library, github.com/acceptgate/acceptgate, is not required here, for the
// reason cmd/acceptgate/go.mod gives: no version of it is published yet; in
// a checkout, go.work provides it from the working tree. Once it is tagged,
// `go get github.com/acceptgate/acceptgate@vX.Y.Z` here adds the line.
// `go mod tidy` here cannot work until then.
//
// google.golang.org/grpc v1.84.0: the newest whose go directive (1.25.0)
// go.work allows; v1.85.0 needs go 1.26.

require (
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.47.0
	google.golang.org/grpc v1.84.0
	google.golang.org/protobuf v1.36.11
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
