// Command generate reads the Gateway API conformance tests (conformance/tests/*.go) with go/ast
// and prints, as JSON, what each test declares and every call it makes to the suite's helpers,
// in execution order, with the arguments evaluated.
//
// It is a small symbolic interpreter, not a pattern matcher: string constants are resolved
// through the packages that declare them, local variables, composite literals, loops (range,
// three-clause for), t.Run subtests, switch/if on known values, closures and the test package's
// own functions are evaluated the way the Go code would run them. Whatever it cannot evaluate
// becomes {"$unknown": "<source text>"} (or {"$sym": "pkg.Name"} for a constant of a package
// outside the Gateway API modules), so nothing is guessed. Turning the helper calls into
// expectations is done by tests/conformance (Python), which also reads the YAML manifests.
//
// Usage: generate -conformance <dir of sigs.k8s.io/gateway-api/conformance> -api <dir of
// sigs.k8s.io/gateway-api>
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	confModule = "sigs.k8s.io/gateway-api/conformance"
	apiModule  = "sigs.k8s.io/gateway-api"
	maxSteps   = 200000
)

type value = any

type sym struct{ Sym string }
type unknown struct{ Expr string }
type closure struct {
	lit *ast.FuncLit
	env *env
}
type funcRef struct{ decl *ast.FuncDecl }

func (s sym) MarshalJSON() ([]byte, error) { return json.Marshal(map[string]string{"$sym": s.Sym}) }
func (u unknown) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$unknown": u.Expr})
}
func (c closure) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$func": "literal"})
}
func (f funcRef) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$func": f.decl.Name.Name})
}

type env struct {
	vars   map[string]value
	parent *env
}

func newEnv(parent *env) *env { return &env{vars: map[string]value{}, parent: parent} }

func (e *env) lookup(name string) (value, bool) {
	for s := e; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (e *env) set(name string, v value) {
	for s := e; s != nil; s = s.parent {
		if _, ok := s.vars[name]; ok {
			s.vars[name] = v
			return
		}
	}
	e.vars[name] = v
}

// pkg is the package-level declarations of one parsed Go package.
type pkg struct {
	types  map[string]bool     // declared type names (a call to one is a conversion)
	consts map[string]ast.Expr // const and var initialisers
	funcs  map[string]*ast.FuncDecl
	files  map[*ast.File]bool
	cache  map[string]value
	dir    string
}

type event struct {
	Call     string   `json:"call"`
	Line     int      `json:"line"`
	Subtests []string `json:"subtests"`
	When     []string `json:"when,omitempty"`
	// Lines of the table entries the enclosing range loops are at (innermost last).
	Entries []int   `json:"entries,omitempty"`
	Args    []value `json:"args"`
}

type testOut struct {
	Var         string   `json:"var"`
	ShortName   value    `json:"shortName"`
	Description value    `json:"description"`
	Features    value    `json:"features"`
	Manifests   value    `json:"manifests"`
	Provisional value    `json:"provisional"`
	Source      string   `json:"source"`
	Line        int      `json:"line"`
	Events      []event  `json:"events"`
	Problems    []string `json:"problems"`
}

type interp struct {
	fset     *token.FileSet
	confDir  string
	apiDir   string
	pkgs     map[string]*pkg // by import path
	file     *ast.File       // file being evaluated (import aliases)
	filePkg  string          // import path of that file's package
	src      map[*ast.File][]byte
	events   []event
	subtests []string
	when     []string
	entries  []int
	problems []string
	steps    int
}

type returned struct{ v value }

func main() {
	confDir := flag.String("conformance", "", "directory of the sigs.k8s.io/gateway-api/conformance module")
	apiDir := flag.String("api", "", "directory of the sigs.k8s.io/gateway-api module")
	flag.Parse()
	if *confDir == "" || *apiDir == "" {
		fmt.Fprintln(os.Stderr, "usage: generate -conformance DIR -api DIR")
		os.Exit(2)
	}
	in := &interp{fset: token.NewFileSet(), confDir: *confDir, apiDir: *apiDir,
		pkgs: map[string]*pkg{}, src: map[*ast.File][]byte{}}
	out, err := in.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func (in *interp) dirOf(path string) (string, bool) {
	switch {
	case path == confModule || strings.HasPrefix(path, confModule+"/"):
		return filepath.Join(in.confDir, strings.TrimPrefix(path, confModule)), true
	case path == apiModule || strings.HasPrefix(path, apiModule+"/"):
		return filepath.Join(in.apiDir, strings.TrimPrefix(path, apiModule)), true
	}
	return "", false
}

func (in *interp) load(path string) *pkg {
	if p, ok := in.pkgs[path]; ok {
		return p
	}
	p := &pkg{types: map[string]bool{}, consts: map[string]ast.Expr{}, funcs: map[string]*ast.FuncDecl{},
		files: map[*ast.File]bool{}, cache: map[string]value{}}
	in.pkgs[path] = p
	dir, ok := in.dirOf(path)
	if !ok {
		return p
	}
	p.dir = dir
	names, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(in.fset, name, data, parser.ParseComments)
		if err != nil {
			in.problems = append(in.problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		in.src[f] = data
		p.files[f] = true
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					p.funcs[d.Name.Name] = d
				}
			case *ast.GenDecl:
				if d.Tok == token.TYPE {
					for _, s := range d.Specs {
						p.types[s.(*ast.TypeSpec).Name.Name] = true
					}
					continue
				}
				if d.Tok != token.CONST && d.Tok != token.VAR {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							p.consts[n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	return p
}

func fileOf(p *pkg, e ast.Node) *ast.File {
	for f := range p.files {
		if f.Pos() <= e.Pos() && e.End() <= f.End() {
			return f
		}
	}
	return nil
}

func (in *interp) imports(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		out[name] = path
	}
	return out
}

func (in *interp) text(n ast.Node) string {
	var b bytes.Buffer
	_ = format.Node(&b, in.fset, n)
	return b.String()
}

func (in *interp) line(n ast.Node) int { return in.fset.Position(n.Pos()).Line }

// pkgValue evaluates a package-level constant or variable of the package at path.
func (in *interp) pkgValue(path, name string) value {
	p := in.load(path)
	if v, ok := p.cache[name]; ok {
		return v
	}
	expr, ok := p.consts[name]
	if !ok {
		if fd, ok := p.funcs[name]; ok {
			return funcRef{fd}
		}
		alias := path[strings.LastIndex(path, "/")+1:]
		return sym{alias + "." + name}
	}
	p.cache[name] = unknown{name} // guards against cycles
	saveFile, savePkg := in.file, in.filePkg
	in.file, in.filePkg = fileOf(p, expr), path
	v := in.eval(expr, newEnv(nil))
	in.file, in.filePkg = saveFile, savePkg
	p.cache[name] = v
	return v
}

func (in *interp) run() (map[string]any, error) {
	testsPath := confModule + "/tests"
	p := in.load(testsPath)
	if len(p.files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", p.dir)
	}
	files := make([]*ast.File, 0, len(p.files))
	for f := range p.files {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool {
		return in.fset.Position(files[i].Pos()).Filename < in.fset.Position(files[j].Pos()).Filename
	})
	var tests []testOut
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.CompositeLit)
					if !ok || !strings.HasSuffix(in.typeName(lit.Type, f), "suite.ConformanceTest") {
						continue
					}
					in.file, in.filePkg = f, testsPath
					tests = append(tests, in.test(n.Name, lit, f))
				}
			}
		}
	}
	return map[string]any{"tests": tests, "problems": in.problems}, nil
}

func (in *interp) typeName(e ast.Expr, f *ast.File) string {
	switch t := e.(type) {
	case nil:
		return ""
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok {
			if path, ok := in.imports(f)[x.Name]; ok {
				return path + "." + t.Sel.Name
			}
		}
	case *ast.StarExpr:
		return "*" + in.typeName(t.X, f)
	case *ast.ArrayType:
		return "[]" + in.typeName(t.Elt, f)
	case *ast.MapType:
		return "map[" + in.typeName(t.Key, f) + "]" + in.typeName(t.Value, f)
	}
	return in.text(e)
}

// shortType is a type's name as the test file spells it, package qualified by its last path
// element ("http.ExpectedResponse", "v1.GRPCRoute").
func shortType(full string) string {
	prefix := ""
	for strings.HasPrefix(full, "[]") || strings.HasPrefix(full, "*") {
		if strings.HasPrefix(full, "[]") {
			prefix += "[]"
			full = full[2:]
		} else {
			full = full[1:]
		}
	}
	if i := strings.LastIndex(full, "/"); i >= 0 {
		full = full[i+1:]
	}
	return prefix + full
}

func (in *interp) test(varName string, lit *ast.CompositeLit, f *ast.File) testOut {
	out := testOut{Var: varName, Source: "conformance/tests/" + filepath.Base(in.fset.Position(lit.Pos()).Filename),
		Line: in.line(lit), Events: []event{}, Problems: []string{}}
	in.events, in.problems, in.subtests, in.when, in.entries, in.steps = []event{}, []string{}, nil, nil, nil, 0
	var body *ast.FuncLit
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key := kv.Key.(*ast.Ident).Name
		switch key {
		case "ShortName":
			out.ShortName = in.eval(kv.Value, newEnv(nil))
		case "Description":
			out.Description = in.eval(kv.Value, newEnv(nil))
		case "Features":
			out.Features = in.eval(kv.Value, newEnv(nil))
		case "Manifests":
			out.Manifests = in.eval(kv.Value, newEnv(nil))
		case "Provisional":
			out.Provisional = in.eval(kv.Value, newEnv(nil))
		case "Test":
			body, _ = kv.Value.(*ast.FuncLit)
		}
	}
	if body != nil {
		in.call(closure{body, newEnv(nil)}, []value{sym{"t"}, sym{"suite"}}, body)
	} else {
		in.problem(lit, "no Test function literal")
	}
	out.Events, out.Problems = in.events, in.problems
	return out
}

func (in *interp) problem(n ast.Node, msg string) {
	in.problems = append(in.problems, fmt.Sprintf("line %d: %s", in.line(n), msg))
}

// call runs a closure or a package function with the given arguments.
func (in *interp) call(fn value, args []value, at ast.Node) value {
	var params *ast.FieldList
	var body *ast.BlockStmt
	var scope *env
	saveFile, savePkg := in.file, in.filePkg
	defer func() { in.file, in.filePkg = saveFile, savePkg }()
	switch f := fn.(type) {
	case closure:
		params, body, scope = f.lit.Type.Params, f.lit.Body, newEnv(f.env)
	case funcRef:
		params, body, scope = f.decl.Type.Params, f.decl.Body, newEnv(nil)
		for path, p := range in.pkgs {
			if file := fileOf(p, f.decl); file != nil {
				in.file, in.filePkg = file, path
			}
		}
	default:
		return unknown{in.text(at)}
	}
	i := 0
	for _, field := range params.List {
		_, variadic := field.Type.(*ast.Ellipsis)
		names := field.Names
		if len(names) == 0 {
			names = []*ast.Ident{{Name: "_"}}
		}
		for _, n := range names {
			switch {
			case variadic:
				rest := []value{}
				if i < len(args) {
					rest = append(rest, args[i:]...)
				}
				scope.vars[n.Name] = rest
			case i < len(args):
				scope.vars[n.Name] = args[i]
			default:
				scope.vars[n.Name] = unknown{n.Name}
			}
			i++
		}
	}
	if body == nil {
		return unknown{in.text(at)}
	}
	if r := in.block(body.List, scope); r != nil {
		return r.v
	}
	return nil
}

func (in *interp) block(stmts []ast.Stmt, e *env) *returned {
	for _, s := range stmts {
		if r := in.stmt(s, e); r != nil {
			return r
		}
	}
	return nil
}

func (in *interp) assign(lhs ast.Expr, v value, e *env, define bool) {
	switch l := lhs.(type) {
	case *ast.Ident:
		if l.Name == "_" {
			return
		}
		if define {
			e.vars[l.Name] = v
		} else {
			e.set(l.Name, v)
		}
	case *ast.IndexExpr:
		container := in.eval(l.X, e)
		if m, ok := container.(map[string]value); ok {
			if k, ok := in.eval(l.Index, e).(string); ok {
				m[k] = v
			}
		}
	case *ast.SelectorExpr:
		if m, ok := in.eval(l.X, e).(map[string]value); ok {
			m[l.Sel.Name] = v
		}
	}
}

func (in *interp) stmt(s ast.Stmt, e *env) *returned {
	in.steps++
	if in.steps > maxSteps {
		in.problem(s, "evaluation step limit reached")
		return &returned{nil}
	}
	switch s := s.(type) {
	case *ast.AssignStmt:
		define := s.Tok == token.DEFINE
		if len(s.Lhs) == len(s.Rhs) {
			vals := make([]value, len(s.Rhs))
			for i, r := range s.Rhs {
				vals[i] = in.eval(r, e)
			}
			for i, l := range s.Lhs {
				v := vals[i]
				if s.Tok == token.ADD_ASSIGN {
					v = binary(token.ADD, in.eval(l, e), v, s)
				}
				in.assign(l, v, e, define)
			}
			return nil
		}
		// a, b := f(): a suite helper's first result is the Gateway address; the others
		// are kept as "result i of that call" so that what the test does with them (the
		// hostnames GatewayAndTLSRoutesMustBeAccepted returns) can still be resolved.
		v := in.eval(s.Rhs[0], e)
		for i, l := range s.Lhs {
			switch {
			case i == 0:
				in.assign(l, v, e, define)
			case isAddress(v):
				in.assign(l, map[string]value{"$type": "result", "index": i, "of": v}, e, define)
			default:
				in.assign(l, unknown{in.text(l)}, e, define)
			}
		}
	case *ast.DeclStmt:
		gd, ok := s.Decl.(*ast.GenDecl)
		if !ok {
			return nil
		}
		for _, sp := range gd.Specs {
			vs, ok := sp.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, n := range vs.Names {
				var v value
				if i < len(vs.Values) {
					v = in.eval(vs.Values[i], e)
				} else if vs.Type != nil {
					v = zero(in.typeName(vs.Type, in.file))
				}
				e.vars[n.Name] = v
			}
		}
	case *ast.ExprStmt:
		in.eval(s.X, e)
	case *ast.IncDecStmt:
		if n, ok := in.eval(s.X, e).(int); ok {
			if s.Tok == token.INC {
				in.assign(s.X, n+1, e, false)
			} else {
				in.assign(s.X, n-1, e, false)
			}
		}
	case *ast.BlockStmt:
		return in.block(s.List, newEnv(e))
	case *ast.ReturnStmt:
		if len(s.Results) == 0 {
			return &returned{nil}
		}
		return &returned{in.eval(s.Results[0], e)}
	case *ast.IfStmt:
		scope := newEnv(e)
		if s.Init != nil {
			in.stmt(s.Init, scope)
		}
		cond := in.eval(s.Cond, scope)
		if b, ok := cond.(bool); ok {
			if b {
				return in.block(s.Body.List, newEnv(scope))
			}
			if s.Else != nil {
				return in.stmt(s.Else, scope)
			}
			return nil
		}
		// Unknown condition (a feature check, an error): both branches are walked, and
		// whatever they assert is recorded with the condition; a return inside does not
		// end the walk, since the branch may not be taken.
		in.when = append(in.when, in.text(s.Cond))
		in.block(s.Body.List, newEnv(scope))
		in.when = in.when[:len(in.when)-1]
		if s.Else != nil {
			in.when = append(in.when, "!("+in.text(s.Cond)+")")
			in.stmt(s.Else, scope)
			in.when = in.when[:len(in.when)-1]
		}
	case *ast.RangeStmt:
		coll := in.eval(s.X, e)
		bind := func(k, v value) *returned {
			if m, ok := v.(map[string]value); ok {
				if line, ok := m["$line"].(int); ok {
					in.entries = append(in.entries, line)
					defer func() { in.entries = in.entries[:len(in.entries)-1] }()
				}
			}
			scope := newEnv(e)
			if s.Key != nil {
				in.assign(s.Key, k, scope, true)
			}
			if s.Value != nil {
				in.assign(s.Value, v, scope, true)
			}
			return in.block(s.Body.List, scope)
		}
		switch c := coll.(type) {
		case []value:
			for i, v := range c {
				if r := bind(i, v); r != nil {
					return r
				}
			}
		case map[string]value:
			keys := make([]string, 0, len(c))
			for k := range c {
				if !strings.HasPrefix(k, "$") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				if r := bind(k, c[k]); r != nil {
					return r
				}
			}
		case int:
			for i := 0; i < c; i++ {
				if r := bind(i, nil); r != nil {
					return r
				}
			}
		default:
			in.problem(s, "range over a value that cannot be evaluated: "+in.text(s.X))
		}
	case *ast.ForStmt:
		scope := newEnv(e)
		if s.Init != nil {
			in.stmt(s.Init, scope)
		}
		for n := 0; ; n++ {
			if n > 10000 {
				in.problem(s, "loop did not end")
				break
			}
			if s.Cond != nil {
				b, ok := in.eval(s.Cond, scope).(bool)
				if !ok {
					in.problem(s, "loop condition cannot be evaluated: "+in.text(s.Cond))
					break
				}
				if !b {
					break
				}
			}
			if r := in.block(s.Body.List, newEnv(scope)); r != nil {
				return r
			}
			if s.Post != nil {
				in.stmt(s.Post, scope)
			}
		}
	case *ast.SwitchStmt:
		scope := newEnv(e)
		if s.Init != nil {
			in.stmt(s.Init, scope)
		}
		var tag value = true
		if s.Tag != nil {
			tag = in.eval(s.Tag, scope)
		}
		if _, ok := tag.(unknown); ok {
			in.problem(s, "switch on a value that cannot be evaluated: "+in.text(s.Tag))
			return nil
		}
		var dflt *ast.CaseClause
		for _, c := range s.Body.List {
			cc := c.(*ast.CaseClause)
			if cc.List == nil {
				dflt = cc
				continue
			}
			for _, x := range cc.List {
				if equal(in.eval(x, scope), tag) {
					return in.block(cc.Body, newEnv(scope))
				}
			}
		}
		if dflt != nil {
			return in.block(dflt.Body, newEnv(scope))
		}
	case *ast.DeferStmt, *ast.GoStmt, *ast.EmptyStmt, *ast.BranchStmt, *ast.LabeledStmt:
		// Nothing the walk needs (cleanup, goroutines of load tests).
	default:
		in.problem(s, fmt.Sprintf("statement not evaluated: %T", s))
	}
	return nil
}

func isUnknown(v value) bool {
	_, ok := v.(unknown)
	return ok
}

func isAddress(v value) bool {
	m, ok := v.(map[string]value)
	return ok && m["$type"] == "address"
}

func zero(typ string) value {
	switch {
	case strings.HasPrefix(typ, "[]"):
		return []value{}
	case strings.HasPrefix(typ, "map["):
		return map[string]value{}
	case typ == "string":
		return ""
	case typ == "int" || typ == "int32" || typ == "int64":
		return 0
	case typ == "bool":
		return false
	}
	return map[string]value{"$type": shortType(typ)}
}

func equal(a, b value) bool {
	switch a := a.(type) {
	case string, int, bool:
		return a == b
	}
	return false
}

func binary(op token.Token, x, y value, at ast.Node) value {
	switch a := x.(type) {
	case string:
		if b, ok := y.(string); ok {
			switch op {
			case token.ADD:
				return a + b
			case token.EQL:
				return a == b
			case token.NEQ:
				return a != b
			}
		}
	case int:
		if b, ok := y.(int); ok {
			switch op {
			case token.ADD:
				return a + b
			case token.SUB:
				return a - b
			case token.MUL:
				return a * b
			case token.EQL:
				return a == b
			case token.NEQ:
				return a != b
			case token.LSS:
				return a < b
			case token.LEQ:
				return a <= b
			case token.GTR:
				return a > b
			case token.GEQ:
				return a >= b
			}
		}
	case bool:
		if b, ok := y.(bool); ok {
			switch op {
			case token.LAND:
				return a && b
			case token.LOR:
				return a || b
			case token.EQL:
				return a == b
			}
		}
	}
	return unknown{fmt.Sprintf("%v %s %v", x, op, y)}
}

func (in *interp) eval(x ast.Expr, e *env) value {
	switch x := x.(type) {
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING, token.CHAR:
			s, err := strconv.Unquote(x.Value)
			if err != nil {
				return unknown{x.Value}
			}
			return s
		case token.INT:
			n, err := strconv.ParseInt(x.Value, 0, 64)
			if err != nil {
				return unknown{x.Value}
			}
			return int(n)
		}
		return unknown{x.Value}
	case *ast.ParenExpr:
		return in.eval(x.X, e)
	case *ast.Ident:
		if v, ok := e.lookup(x.Name); ok {
			return v
		}
		switch x.Name {
		case "true":
			return true
		case "false":
			return false
		case "nil":
			return nil
		}
		if in.filePkg != "" {
			if p := in.load(in.filePkg); p != nil {
				if _, ok := p.consts[x.Name]; ok {
					return in.pkgValue(in.filePkg, x.Name)
				}
				if fd, ok := p.funcs[x.Name]; ok {
					return funcRef{fd}
				}
			}
		}
		return unknown{x.Name}
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			if _, local := e.lookup(id.Name); !local && in.file != nil {
				if path, ok := in.imports(in.file)[id.Name]; ok {
					return in.pkgValue(path, x.Sel.Name)
				}
			}
		}
		base := in.eval(x.X, e)
		switch b := base.(type) {
		case map[string]value:
			if v, ok := b[x.Sel.Name]; ok {
				return v
			}
			return nil // an unset struct field is its zero value
		case sym:
			return sym{b.Sym + "." + x.Sel.Name}
		}
		return unknown{in.text(x)}
	case *ast.StarExpr:
		return in.eval(x.X, e)
	case *ast.UnaryExpr:
		v := in.eval(x.X, e)
		switch x.Op {
		case token.AND:
			return v
		case token.NOT:
			if b, ok := v.(bool); ok {
				return !b
			}
		case token.SUB:
			if n, ok := v.(int); ok {
				return -n
			}
		}
		return unknown{in.text(x)}
	case *ast.BinaryExpr:
		l := in.eval(x.X, e)
		if x.Op == token.LAND {
			if b, ok := l.(bool); ok && !b {
				return false
			}
		}
		if x.Op == token.LOR {
			if b, ok := l.(bool); ok && b {
				return true
			}
		}
		v := binary(x.Op, l, in.eval(x.Y, e), x)
		if _, ok := v.(unknown); ok {
			return unknown{in.text(x)}
		}
		return v
	case *ast.CompositeLit:
		return in.composite(x, "", e)
	case *ast.FuncLit:
		return closure{x, e}
	case *ast.IndexExpr:
		c := in.eval(x.X, e)
		i := in.eval(x.Index, e)
		switch c := c.(type) {
		case []value:
			if n, ok := i.(int); ok && n >= 0 && n < len(c) {
				return c[n]
			}
		case map[string]value:
			if c["$type"] == "result" {
				return map[string]value{"$type": "element", "index": i, "of": c}
			}
			if k, ok := i.(string); ok {
				return c[k]
			}
		}
		return unknown{in.text(x)}
	case *ast.SliceExpr:
		if c, ok := in.eval(x.X, e).([]value); ok {
			lo, hi := 0, len(c)
			if x.Low != nil {
				if n, ok := in.eval(x.Low, e).(int); ok {
					lo = n
				}
			}
			if x.High != nil {
				if n, ok := in.eval(x.High, e).(int); ok {
					hi = n
				}
			}
			if 0 <= lo && lo <= hi && hi <= len(c) {
				return append([]value{}, c[lo:hi]...)
			}
		}
		return unknown{in.text(x)}
	case *ast.CallExpr:
		return in.callExpr(x, e)
	case *ast.TypeAssertExpr:
		return in.eval(x.X, e)
	}
	return unknown{in.text(x)}
}

func (in *interp) composite(x *ast.CompositeLit, inherited string, e *env) value {
	typ := inherited
	if x.Type != nil {
		typ = in.typeName(x.Type, in.file)
	}
	for strings.HasPrefix(typ, "*") {
		typ = typ[1:]
	}
	switch {
	case strings.HasPrefix(typ, "[]"):
		elem := typ[2:]
		out := []value{}
		for _, el := range x.Elts {
			if lit, ok := el.(*ast.CompositeLit); ok {
				out = append(out, in.composite(lit, elem, e))
			} else if u, ok := el.(*ast.UnaryExpr); ok && u.Op == token.AND {
				if lit, ok := u.X.(*ast.CompositeLit); ok {
					out = append(out, in.composite(lit, strings.TrimPrefix(elem, "*"), e))
					continue
				}
				out = append(out, in.eval(el, e))
			} else {
				out = append(out, in.eval(el, e))
			}
		}
		return out
	case strings.HasPrefix(typ, "map["):
		valType := typ[strings.Index(typ, "]")+1:]
		out := map[string]value{}
		for _, el := range x.Elts {
			kv := el.(*ast.KeyValueExpr)
			k, ok := in.eval(kv.Key, e).(string)
			if !ok {
				in.problem(kv, "map key cannot be evaluated: "+in.text(kv.Key))
				continue
			}
			if lit, ok := kv.Value.(*ast.CompositeLit); ok {
				out[k] = in.composite(lit, valType, e)
			} else {
				out[k] = in.eval(kv.Value, e)
			}
		}
		return out
	}
	out := map[string]value{"$type": shortType(typ), "$line": in.line(x)}
	for i, el := range x.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			key, isField := kv.Key.(*ast.Ident)
			if !isField {
				// a map whose type is not spelled here (a named map type)
				if k, ok := in.eval(kv.Key, e).(string); ok {
					out[k] = in.eval(kv.Value, e)
				}
				continue
			}
			out[key.Name] = in.eval(kv.Value, e)
		} else {
			out[fmt.Sprintf("$%d", i)] = in.eval(el, e)
		}
	}
	return out
}

// recorded reports whether a call to pkgPath.name is one of the suite's helpers, whose calls are
// the expectations.
func recorded(pkgPath string) bool {
	return strings.HasPrefix(pkgPath, confModule+"/utils/")
}

func (in *interp) args(x *ast.CallExpr, e *env) []value {
	out := make([]value, 0, len(x.Args))
	for i, a := range x.Args {
		v := in.eval(a, e)
		if x.Ellipsis.IsValid() && i == len(x.Args)-1 {
			if l, ok := v.([]value); ok {
				out = append(out, l...)
				continue
			}
		}
		out = append(out, v)
	}
	return out
}

func (in *interp) callExpr(x *ast.CallExpr, e *env) value {
	switch fn := x.Fun.(type) {
	case *ast.Ident:
		switch fn.Name {
		case "len":
			switch v := in.eval(x.Args[0], e).(type) {
			case []value:
				return len(v)
			case map[string]value:
				return len(v)
			case string:
				return len(v)
			}
			return unknown{in.text(x)}
		case "append":
			args := in.args(x, e)
			base, ok := args[0].([]value)
			if !ok {
				if args[0] != nil {
					return unknown{in.text(x)}
				}
				base = nil
			}
			return append(append([]value{}, base...), args[1:]...)
		case "string", "int", "int32", "int64":
			return in.eval(x.Args[0], e)
		case "make":
			return zero(in.typeName(x.Args[0], in.file))
		case "new":
			// new(T) is T's zero value; new(expr) (Go 1.26) points at expr's value.
			if v := in.eval(x.Args[0], e); !isUnknown(v) {
				return v
			}
			return zero(in.typeName(x.Args[0], in.file))
		}
		if _, local := e.lookup(fn.Name); local {
			return in.call(in.eval(fn, e), in.args(x, e), x)
		}
		if p := in.load(in.filePkg); p != nil {
			if fd, ok := p.funcs[fn.Name]; ok {
				return in.call(funcRef{fd}, in.args(x, e), x)
			}
		}
		return unknown{in.text(x)}
	case *ast.SelectorExpr:
		if id, ok := fn.X.(*ast.Ident); ok {
			if _, local := e.lookup(id.Name); !local && in.file != nil {
				if path, ok := in.imports(in.file)[id.Name]; ok {
					return in.pkgCall(path, id.Name, fn.Sel.Name, x, e)
				}
			}
		}
		recv := in.eval(fn.X, e)
		if s, ok := recv.(sym); ok && s.Sym == "t" {
			switch fn.Sel.Name {
			case "Run":
				name := in.eval(x.Args[0], e)
				label := fmt.Sprint(name)
				if _, ok := name.(string); !ok {
					label = "<" + in.text(x.Args[0]) + ">"
				}
				in.subtests = append(in.subtests, label)
				in.call(in.eval(x.Args[1], e), []value{sym{"t"}}, x)
				in.subtests = in.subtests[:len(in.subtests)-1]
				return true
			case "Skip", "Skipf", "SkipNow":
				in.record("t."+fn.Sel.Name, x, in.args(x, e))
			}
			return nil
		}
		return unknown{in.text(x)}
	case *ast.FuncLit:
		return in.call(closure{fn, e}, in.args(x, e), x)
	case *ast.ParenExpr, *ast.ArrayType, *ast.StarExpr:
		// A conversion: (*gatewayv1.Group)(&g), []byte(s).
		if len(x.Args) == 1 {
			return in.eval(x.Args[0], e)
		}
	}
	return unknown{in.text(x)}
}

func (in *interp) record(name string, x ast.Node, args []value) {
	in.events = append(in.events, event{
		Call: name, Line: in.line(x), Args: args,
		Subtests: append([]string{}, in.subtests...),
		When:     append([]string(nil), in.when...),
		Entries:  append([]int(nil), in.entries...),
	})
}

func (in *interp) pkgCall(path, alias, name string, x *ast.CallExpr, e *env) value {
	switch path + "." + name {
	case "strings.Split":
		s, ok1 := in.eval(x.Args[0], e).(string)
		sep, ok2 := in.eval(x.Args[1], e).(string)
		if ok1 && ok2 {
			out := []value{}
			for _, p := range strings.Split(s, sep) {
				out = append(out, p)
			}
			return out
		}
	case "fmt.Sprintf":
		args := in.args(x, e)
		if f, ok := args[0].(string); ok {
			for _, a := range args[1:] {
				switch a.(type) {
				case string, int, bool:
				default:
					return unknown{in.text(x)}
				}
			}
			return fmt.Sprintf(f, args[1:]...)
		}
	case "k8s.io/utils/ptr.To":
		return in.eval(x.Args[0], e)
	}
	if _, inModule := in.dirOf(path); (inModule || strings.HasPrefix(path, "k8s.io/apimachinery/")) &&
		len(x.Args) == 1 {
		// A conversion to a named type (gatewayv1.Kind("HTTPRoute"), types.NamespacedName(x)).
		if p := in.load(path); p.types[name] || p.dir == "" {
			if _, isFunc := p.funcs[name]; !isFunc {
				return in.eval(x.Args[0], e)
			}
		}
	}
	if recorded(path) {
		args := in.args(x, e)
		short := path[strings.LastIndex(path, "/")+1:] + "." + name
		// Helpers that build values the recorded calls take as arguments.
		switch short {
		case "kubernetes.NewGatewayRef":
			listeners := []value{}
			if len(args) > 1 {
				listeners = append(listeners, args[1:]...)
			}
			return map[string]value{"$type": "kubernetes.GatewayRef", "NamespacedName": args[0],
				"listenerNames": listeners}
		case "kubernetes.NewResourceRef":
			return map[string]value{"$type": "kubernetes.ResourceRef", "$args": args}
		}
		in.record(short, x, args)
		// The helpers that wait for a Gateway return its address: keep where it came from.
		return map[string]value{"$type": "address", "from": short, "line": in.line(x), "args": args}
	}
	// A request the suite makes without its helpers (dns.Exchange(msg, gwAddr)): recorded, so
	// that it is listed rather than lost.
	args := in.args(x, e)
	for _, a := range args {
		if isAddress(a) {
			in.record(alias+"."+name, x, args)
			break
		}
	}
	// A function the walk does not know (wait.PollUntilContextTimeout, ...): the closures it
	// is given are walked too, so that what they assert is recorded, marked as depending on
	// that call.
	for _, a := range x.Args {
		if lit, ok := a.(*ast.FuncLit); ok {
			in.when = append(in.when, "inside "+alias+"."+name)
			in.call(closure{lit, e}, nil, lit)
			in.when = in.when[:len(in.when)-1]
		}
	}
	return unknown{in.text(x)}
}
