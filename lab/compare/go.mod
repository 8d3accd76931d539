module github.com/acceptgate/acceptgate/lab/compare

go 1.25.0

// A test-only module: the side-by-side measurement of examples/upgrade,
// acceptgate serve and the same server written with
// github.com/cloudflare/tableflip, which nothing else in the project
// needs. Nothing here imports the library: the harness builds the servers
// from the workspace go.work makes (or takes them built), so `go mod tidy`
// works here, with GOWORK=off.

require (
	github.com/cloudflare/tableflip v1.2.3
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.47.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
