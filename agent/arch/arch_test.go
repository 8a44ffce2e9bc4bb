package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The limits of STYLE.md's "no god files": past them a package, file or
// function is doing more than one job and wants splitting.
const (
	maxPackageShare = 0.25 // of the module's non-test Go lines
	maxFileLines    = 800
	maxFuncLines    = 100
)

// adapterLibraries are the kernel and hypervisor libraries only adapters
// may use; their subpackages count too. bbolt is deliberately absent:
// agent/store is the engine's own persistence.
var adapterLibraries = []string{
	"libvirt.org/go/libvirt",
	"libvirt.org/go/libvirtxml",
	"github.com/vishvananda/netlink",
	"github.com/google/nftables",
}

// adapterDirs are the module's adapter trees, relative to the module root.
var adapterDirs = []string{"hypervisor", "storage", "network"}

// listedPackage is the part of `go list -json` output the rules read.
type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Doc        string
	DepOnly    bool // listed only as a dependency of ./...
	Standard   bool
	Imports    []string
	Deps       []string // transitive, test dependencies excluded
}

// sourceFile is one non-test Go file of the module.
type sourceFile struct {
	rel     string // slash-separated, from the module root
	lines   int
	funcs   []funcSize
	imports map[string][]int // import path -> lines importing it
}

type funcSize struct {
	name  string
	line  int
	lines int
}

// module is everything the rules look at, loaded once.
type module struct {
	root  string
	path  string
	pkgs  []*listedPackage          // `go list ./...`, by import path
	graph map[string]*listedPackage // every package of the build
	files map[string][]*sourceFile  // by import path of pkgs
}

func TestShape(t *testing.T) {
	m := loadModule(t)

	t.Run("package share", func(t *testing.T) { checkPackageShare(t, m) })
	t.Run("file length", func(t *testing.T) { checkFileLength(t, m) })
	t.Run("function length", func(t *testing.T) { checkFuncLength(t, m) })
	t.Run("agent has no adapter deps", func(t *testing.T) { checkAgentDeps(t, m) })
	t.Run("package comments", func(t *testing.T) { checkPackageDocs(t, m) })
	t.Run("binaries link no test helper", func(t *testing.T) { checkBinaryDeps(t, m) })
}

func checkPackageShare(t *testing.T, m *module) {
	type size struct {
		pkg   string
		lines int
	}
	var sizes []size
	total := 0
	for _, p := range m.pkgs {
		n := 0
		for _, f := range m.files[p.ImportPath] {
			n += f.lines
		}
		sizes = append(sizes, size{m.short(p.ImportPath), n})
		total += n
	}
	if total == 0 {
		t.Fatal("found no non-test Go lines in the module: the loader is broken")
	}
	sort.SliceStable(sizes, func(i, j int) bool { return sizes[i].lines > sizes[j].lines })
	share := func(s size) string {
		return fmt.Sprintf("%s: %d of %d lines (%.1f%%)", s.pkg, s.lines, total, 100*float64(s.lines)/float64(total))
	}
	var offenders []string
	for _, s := range sizes {
		if float64(s.lines) > maxPackageShare*float64(total) {
			offenders = append(offenders, share(s))
		}
	}
	if len(offenders) == 0 {
		return
	}
	var biggest []string
	for _, s := range sizes[:min(5, len(sizes))] {
		biggest = append(biggest, share(s))
	}
	t.Errorf("%d package(s) hold more than %.0f%% of the module's non-test Go lines; split them by job:\n\t%s\nbiggest packages:\n\t%s",
		len(offenders), 100*maxPackageShare, strings.Join(offenders, "\n\t"), strings.Join(biggest, "\n\t"))
}

func checkFileLength(t *testing.T, m *module) {
	var long []*sourceFile
	for _, files := range m.files {
		for _, f := range files {
			if f.lines > maxFileLines {
				long = append(long, f)
			}
		}
	}
	sort.Slice(long, func(i, j int) bool {
		if long[i].lines != long[j].lines {
			return long[i].lines > long[j].lines
		}
		return long[i].rel < long[j].rel
	})
	var offenders []string
	for _, f := range long {
		offenders = append(offenders, fmt.Sprintf("%s:1: %d lines", f.rel, f.lines))
	}
	if len(offenders) > 0 {
		t.Errorf("%d non-test file(s) over %d lines; split them by role:\n\t%s",
			len(offenders), maxFileLines, strings.Join(offenders, "\n\t"))
	}
}

func checkFuncLength(t *testing.T, m *module) {
	type long struct {
		file string
		funcSize
	}
	var longs []long
	for _, p := range m.pkgs {
		if rel := m.short(p.ImportPath); rel == "cmd" || strings.HasPrefix(rel, "cmd/") {
			continue // main packages wire everything up; long setup reads top to bottom
		}
		if isTestHelper(p) {
			// Test helpers are tests, kept in their own package only to
			// be shared (one conformance suite for every backend): a
			// suite's long list of checks reads best as one function,
			// as it would in a _test.go file, which this rule skips too.
			continue
		}
		for _, f := range m.files[p.ImportPath] {
			for _, fn := range f.funcs {
				if fn.lines > maxFuncLines {
					longs = append(longs, long{f.rel, fn})
				}
			}
		}
	}
	sort.Slice(longs, func(i, j int) bool {
		if longs[i].lines != longs[j].lines {
			return longs[i].lines > longs[j].lines
		}
		return longs[i].file < longs[j].file
	})
	var offenders []string
	for _, l := range longs {
		offenders = append(offenders, fmt.Sprintf("%s:%d: %s is %d lines", l.file, l.line, l.name, l.lines))
	}
	if len(offenders) > 0 {
		t.Errorf("%d function(s) outside cmd/, tests and test helpers over %d lines (func line to closing brace); split them into steps:\n\t%s",
			len(offenders), maxFuncLines, strings.Join(offenders, "\n\t"))
	}
}

// isTestHelper reports a package that exists for tests only: named as
// Go names them (storagetest, nettest, like httptest; testenv, like the
// go tree's internal/testenv) and importing "testing", which no package
// the agent runs on needs. Both, so that a package called "latest" is
// not taken for one.
func isTestHelper(p *listedPackage) bool {
	named := strings.HasSuffix(p.Name, "test") || strings.HasPrefix(p.Name, "test")
	return named && slices.Contains(p.Imports, "testing")
}

// checkAgentDeps keeps the engine free of adapters: it declares ports and
// cmd/ plugs the adapters in, so agent/ builds and tests without libvirt,
// netlink or nftables.
func checkAgentDeps(t *testing.T, m *module) {
	var offenders []string
	for _, p := range m.pkgs {
		rel := m.short(p.ImportPath)
		if rel != "agent" && !strings.HasPrefix(rel, "agent/") {
			continue
		}
		// A test helper that builds a whole agent (agent/agenttest) is a
		// composition root for tests, as cmd/ is for binaries; checkBinaryDeps
		// keeps it out of what ships.
		if isTestHelper(p) {
			continue
		}
		var bad []string
		for _, d := range p.Deps {
			if m.isAdapter(d) {
				bad = append(bad, m.short(d))
			}
		}
		if len(bad) == 0 {
			continue
		}
		// Name the first adapter on each import path, not every package
		// behind it: agent/x -> hypervisor is the fault, libvirt follows.
		chains := m.adapterChains(p.ImportPath)
		if len(chains) == 0 { // Deps and Imports disagree: still say what
			offenders = append(offenders, fmt.Sprintf("%s: depends on %s", rel, strings.Join(bad, ", ")))
		}
		for _, chain := range chains {
			var hops []string
			for _, c := range chain {
				hops = append(hops, m.short(c))
			}
			offenders = append(offenders, fmt.Sprintf("%s: %s", m.importSites(p.ImportPath, chain[1]), strings.Join(hops, " -> ")))
		}
	}
	if len(offenders) > 0 {
		t.Errorf("packages under agent/ depend on adapters (%s, or the module's %s/); declare a port in agent/ and wire the adapter in cmd/:\n\t%s",
			strings.Join(adapterLibraries, ", "), strings.Join(adapterDirs, "/, "), strings.Join(offenders, "\n\t"))
	}
}

// checkBinaryDeps keeps the module's test helpers (agent/agenttest
// wires a whole agent on libvirt's test driver) out of what ships: a
// binary under cmd/ may import them only from its _test.go files. The lab
// driver (deploy/lab/cmd/lab) is a test itself and may link them.
func checkBinaryDeps(t *testing.T, m *module) {
	var offenders []string
	for _, p := range m.pkgs {
		if rel := m.short(p.ImportPath); p.Name != "main" || !strings.HasPrefix(rel, "cmd/") {
			continue
		}
		for _, d := range p.Deps {
			dep := m.graph[d]
			if dep == nil || (d != m.path && !strings.HasPrefix(d, m.path+"/")) || !isTestHelper(dep) {
				continue
			}
			offenders = append(offenders, fmt.Sprintf("%s: links %s", m.short(p.ImportPath), m.short(d)))
		}
	}
	if len(offenders) > 0 {
		t.Errorf("binaries link the module's test helpers; import them from _test.go files only:\n\t%s", strings.Join(offenders, "\n\t"))
	}
}

func checkPackageDocs(t *testing.T, m *module) {
	var offenders []string
	for _, p := range m.pkgs {
		if strings.TrimSpace(p.Doc) == "" {
			offenders = append(offenders, fmt.Sprintf("%s: no package comment (a doc.go with `// Package %s ...`)", m.short(p.ImportPath), path.Base(p.ImportPath)))
		}
	}
	if len(offenders) > 0 {
		t.Errorf("%d package(s) without a package comment saying what the package is:\n\t%s",
			len(offenders), strings.Join(offenders, "\n\t"))
	}
}

// isAdapter reports whether an import path is an adapter library or one
// of the module's adapter packages, subpackages included.
func (m *module) isAdapter(importPath string) bool {
	within := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	for _, lib := range adapterLibraries {
		if within(importPath, lib) {
			return true
		}
	}
	for _, dir := range adapterDirs {
		if within(importPath, m.path+"/"+dir) {
			return true
		}
	}
	return false
}

// adapterChains walks the import graph breadth-first from pkg and returns,
// for every adapter package reached without passing another adapter, the
// shortest import chain from pkg to it.
func (m *module) adapterChains(pkg string) [][]string {
	parent := map[string]string{pkg: ""}
	queue := []string{pkg}
	var found []string
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := m.graph[cur]
		if p == nil || p.Standard {
			continue // the standard library imports nothing outside it
		}
		for _, imp := range p.Imports {
			if _, seen := parent[imp]; seen {
				continue
			}
			parent[imp] = cur
			if m.isAdapter(imp) {
				found = append(found, imp)
				continue
			}
			queue = append(queue, imp)
		}
	}
	sort.Strings(found)
	var chains [][]string
	for _, f := range found {
		var chain []string
		for c := f; c != ""; c = parent[c] {
			chain = append([]string{c}, chain...)
		}
		chains = append(chains, chain)
	}
	return chains
}

// importSites names the lines of pkg's non-test files importing imp,
// or the package itself when none does (a build-tagged file, say).
func (m *module) importSites(pkg, imp string) string {
	var sites []string
	for _, f := range m.files[pkg] {
		for _, line := range f.imports[imp] {
			sites = append(sites, fmt.Sprintf("%s:%d", f.rel, line))
		}
	}
	if len(sites) == 0 {
		return m.short(pkg)
	}
	return strings.Join(sites, ", ")
}

// short turns a module import path into its directory from the root.
func (m *module) short(importPath string) string {
	if importPath == m.path {
		return "."
	}
	return strings.TrimPrefix(importPath, m.path+"/")
}

func loadModule(t *testing.T) *module {
	t.Helper()
	root := moduleRoot(t)
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := &module{root: root, path: modPath, graph: map[string]*listedPackage{}, files: map[string][]*sourceFile{}}
	for _, p := range goListDeps(t, root) {
		m.graph[p.ImportPath] = p
		if !p.DepOnly && (p.ImportPath == modPath || strings.HasPrefix(p.ImportPath, modPath+"/")) {
			m.pkgs = append(m.pkgs, p)
		}
	}
	if len(m.pkgs) == 0 {
		t.Fatalf("go list ./... in %s listed no package of module %s", root, modPath)
	}
	sort.Slice(m.pkgs, func(i, j int) bool { return m.pkgs[i].ImportPath < m.pkgs[j].ImportPath })
	fset := token.NewFileSet()
	for _, p := range m.pkgs {
		files, err := parseDir(fset, root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		m.files[p.ImportPath] = files
	}
	return m
}

// moduleRoot walks up from the test's working directory to go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("finding the module root: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("finding the module root: no go.mod in %s or above", wd)
		}
	}
}

// modulePath reads the module directive of a go.mod.
func modulePath(gomod string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("reading the module path: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "module" {
			continue
		}
		p := fields[1]
		if uq, err := strconv.Unquote(p); err == nil {
			p = uq
		}
		return p, nil
	}
	return "", fmt.Errorf("reading the module path: %s has no module directive", gomod)
}

// goListDeps runs one `go list -deps -json ./...` for the whole module:
// its packages, each with Doc and Deps, and every package they import.
func goListDeps(t *testing.T, root string) []*listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running `go list -deps -json ./...` in %s: %v\n%s\nthe shape rules read the import graph from the go command; "+
			"it must be on PATH (go test puts GOROOT/bin there) and the module must load", root, err, stderr.String())
	}
	var pkgs []*listedPackage
	dec := json.NewDecoder(&stdout)
	for {
		p := new(listedPackage)
		err := dec.Decode(p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		if err != nil {
			t.Fatalf("decoding the output of `go list -deps -json ./...`: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

// parseDir parses every non-test .go file of dir, whatever its build
// constraints: code behind a tag is still code to keep small.
func parseDir(fset *token.FileSet, root, dir string) ([]*sourceFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing package dir: %w", err)
	}
	var files []*sourceFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		full := filepath.Join(dir, name)
		src, err := os.ReadFile(full)
		if err != nil {
			return nil, fmt.Errorf("reading source: %w", err)
		}
		af, err := parser.ParseFile(fset, full, src, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing source: %w", err)
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return nil, fmt.Errorf("naming %s from the module root: %w", full, err)
		}
		f := &sourceFile{rel: filepath.ToSlash(rel), lines: lineCount(src), imports: map[string][]int{}}
		for _, imp := range af.Imports {
			if p, err := strconv.Unquote(imp.Path.Value); err == nil {
				f.imports[p] = append(f.imports[p], fset.Position(imp.Pos()).Line)
			}
		}
		if ast.IsGenerated(af) {
			// A generated file (gigasclient's, from the OpenAPI
			// document) is split by its generator, not by hand: the
			// size rules skip it; the import rules still read it.
			f.lines = 0
			files = append(files, f)
			continue
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start := fset.Position(fd.Pos()).Line // the func keyword, not the doc comment
			end := fset.Position(fd.Body.Rbrace).Line
			f.funcs = append(f.funcs, funcSize{name: funcName(fd), line: start, lines: end - start + 1})
		}
		files = append(files, f)
	}
	return files, nil
}

// lineCount counts lines as wc -l does, plus a last line with no newline.
func lineCount(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// funcName names a function as go doc does: F, T.M or (*T).M.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	star := false
	if s, ok := typ.(*ast.StarExpr); ok {
		star, typ = true, s.X
	}
	switch g := typ.(type) { // drop type parameters: T[K, V] -> T
	case *ast.IndexExpr:
		typ = g.X
	case *ast.IndexListExpr:
		typ = g.X
	}
	recv := "?"
	if id, ok := typ.(*ast.Ident); ok {
		recv = id.Name
	}
	if star {
		return "(*" + recv + ")." + fd.Name.Name
	}
	return recv + "." + fd.Name.Name
}

func TestIsAdapter(t *testing.T) {
	m := &module{path: "example.com/mod"}
	tests := []struct {
		path string
		want bool
	}{
		{"libvirt.org/go/libvirt", true},
		{"libvirt.org/go/libvirtxml", true},
		{"github.com/vishvananda/netlink/nl", true},
		{"github.com/google/nftables/expr", true},
		{"github.com/vishvananda/netns", false},     // a sibling, not a subpackage
		{"libvirt.org/go/libvirtfoo", false},        // a prefix of the name only
		{"go.etcd.io/bbolt", false},                 // the store's, allowed
		{"example.com/mod/hypervisor", true},        // adapter package
		{"example.com/mod/storage/durable", true},   // under an adapter tree
		{"example.com/mod/network/wire", true},      // under an adapter tree
		{"example.com/mod/networking", false},       // not the network tree
		{"example.com/mod/agent/store", false},      // the engine itself
		{"other.example/mod/hypervisor", false},     // another module's
		{"example.com/mod/agent/hypervisor", false}, // a port, by name only
	}
	for _, tt := range tests {
		if got := m.isAdapter(tt.path); got != tt.want {
			t.Errorf("isAdapter(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestFuncSizes(t *testing.T) {
	src := `package p

// F has a doc comment that does not count.
func F() {
}

func (t *T[K]) M() { return }

func (T) N() {
	x := func() {
	}
	_ = x
}

func asm()
`
	fset := token.NewFileSet()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := parseDir(fset, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("parsed %d files, want 1 (p_test.go is skipped)", len(files))
	}
	f := files[0]
	gen := "// Code generated by a tool. DO NOT EDIT.\n\npackage p\n\nimport \"net\"\n\nfunc Long() {\n" + strings.Repeat("\t_ = net.IPv4len\n", 200) + "}\n"
	if err := os.WriteFile(filepath.Join(dir, "q.gen.go"), []byte(gen), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := parseDir(fset, dir, dir)
	if err != nil || len(all) != 2 {
		t.Fatalf("parsed %d files (%v), want 2", len(all), err)
	}
	if g := all[1]; g.rel != "q.gen.go" || g.lines != 0 || len(g.funcs) != 0 || len(g.imports["net"]) != 1 {
		t.Errorf("generated file = %s with %d lines, funcs %v, imports %v; want no lines or funcs counted, its import kept", g.rel, g.lines, g.funcs, g.imports)
	}
	if f.rel != "p.go" || f.lines != 15 {
		t.Errorf("file = %s with %d lines, want p.go with 15", f.rel, f.lines)
	}
	want := []funcSize{{"F", 4, 2}, {"(*T).M", 7, 1}, {"T.N", 9, 5}}
	if fmt.Sprint(f.funcs) != fmt.Sprint(want) {
		t.Errorf("funcs = %v, want %v", f.funcs, want)
	}
}

func TestIsTestHelper(t *testing.T) {
	tests := []struct {
		name    string
		imports []string
		want    bool
	}{
		{"storagetest", []string{"context", "testing"}, true},
		{"testenv", []string{"os", "testing"}, true},
		{"latest", []string{"fmt"}, false},    // named like one, but not one
		{"store", []string{"testing"}, false}, // imports testing, but is named for its job
		{"nettest", []string{"net"}, false},   // a helper that does not need testing is not exempt
	}
	for _, tt := range tests {
		if got := isTestHelper(&listedPackage{Name: tt.name, Imports: tt.imports}); got != tt.want {
			t.Errorf("isTestHelper(%s importing %v) = %v, want %v", tt.name, tt.imports, got, tt.want)
		}
	}
}

func TestLineCount(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"a\n", 1},
		{"a\nb", 2},
		{"a\n\n", 2},
	}
	for _, tt := range tests {
		if got := lineCount([]byte(tt.src)); got != tt.want {
			t.Errorf("lineCount(%q) = %d, want %d", tt.src, got, tt.want)
		}
	}
}
