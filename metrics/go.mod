module github.com/acceptgate/acceptgate/metrics

go 1.25.0

// A module of its own so that the library's go.mod stays free of the
// Prometheus client. The library, github.com/acceptgate/acceptgate, is not
// required here, for the reason cmd/acceptgate/go.mod gives: no version of it
// is published yet; in a checkout, go.work provides it from the working
// tree. Once it is tagged, `go get github.com/acceptgate/acceptgate@vX.Y.Z`
// here adds the line. `go mod tidy` here cannot work until then.

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/prometheus/common v0.70.1 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

require (
	github.com/prometheus/client_golang v1.24.1
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/procfs v0.21.1
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
)
