module github.com/acceptgate/acceptgate/lab

go 1.25.0

// The library, github.com/acceptgate/acceptgate, is not required here: no
// version of it is published yet, and a require of an unpublished version
// fails to load even in workspace mode, since go.work only adds the modules
// it uses as roots and does not stand in for other versions of them. In a
// checkout, go.work (use . ./lab) provides the library from the working
// tree, which is the only way the lab runs: it imports the library's
// internal packages, so it is built with the library of the same commit
// and never installed on its own. There is no replace directive: go.work
// is what joins the two. `go mod tidy` here cannot work: it ignores
// go.work.
//
// gonum.org/v1/plot draws backlog's -plot; it is why the lab is a module
// of its own, so that neither the library nor cmd/acceptgate needs it.

require (
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
	gonum.org/v1/plot v0.17.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
