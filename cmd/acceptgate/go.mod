module github.com/acceptgate/acceptgate/cmd/acceptgate

go 1.25.0

// The library, github.com/acceptgate/acceptgate, is not required here: no
// version of it is published yet, and a require of an unpublished version
// fails to load even in workspace mode, since go.work only adds the modules
// it uses as roots and does not stand in for other versions of them. In a
// checkout, go.work (use . ./cmd/acceptgate) provides the library from the
// working tree. There is no replace directive, so that once the library is
// tagged, `go get github.com/acceptgate/acceptgate@vX.Y.Z` here adds the
// one line `go install github.com/acceptgate/acceptgate/cmd/acceptgate@latest`
// needs. `go mod tidy` here cannot work until then: it ignores go.work.
// The same holds for github.com/acceptgate/acceptgate/metrics, the nested
// module serve's /metrics comes from (go.work uses ./metrics too).
//
// github.com/chromedp/chromedp is for the admin page's browser test only;
// it is not linked into the binary. The lab (../../lab), which draws with
// gonum.org/v1/plot, is a module of its own.

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/prometheus/client_golang v1.24.1
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.70.1 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
