package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/config"
)

// reference renders the configuration reference of config.Config: YAML
// keys and Go types by reflection, doc comments parsed from the package's
// source in dir, defaults by running Defaults.
func reference(dir string) (string, error) {
	docs, err := parseDocs(os.DirFS(dir))
	if err != nil {
		return "", err
	}
	return renderReference(reflect.TypeFor[config.Config](), docs, func() any { return new(config.Config) }), nil
}

const referenceIntro = `# Configuration reference

<!-- Generated from the structs in internal/config; do not edit.
     Regenerate with: go generate ./internal/config -->

Vigia reads one YAML file: ` + "`vigia run --config FILE`" + `, ` + "`vigia ingest --config FILE`" + `.
Unknown keys are errors, reported with their line. An absent or zero value takes the default
shown. Durations are written ` + "`250ms`, `30s`, `5m`" + `. Relative paths are relative to the
working directory. Secrets are never written here: fields ending in ` + "`_env`" + ` name an environment
variable and fields ending in ` + "`_file`" + ` a file (a mounted Secret) that holds them.

Check a file with ` + "`vigia config validate --config FILE [--for run|ingest]`" + `; print this reference with
` + "`vigia config reference`" + `.
`

// typeDocs are the doc comments of one package's struct types.
type typeDocs map[string]*structDoc

type structDoc struct {
	doc    string
	fields map[string]string
}

// parseDocs reads the doc comments of every struct type in the .go files
// of fsys (test files excepted).
func parseDocs(fsys fs.FS) (typeDocs, error) {
	docs := typeDocs{}
	fset := token.NewFileSet()
	names, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				sd := &structDoc{doc: ts.Doc.Text(), fields: map[string]string{}}
				if sd.doc == "" && len(gd.Specs) == 1 {
					sd.doc = gd.Doc.Text()
				}
				for _, fld := range st.Fields.List {
					text := fld.Doc.Text()
					if text == "" {
						text = fld.Comment.Text()
					}
					if len(fld.Names) == 0 { // embedded: named after its type
						t := fld.Type
						if s, ok := t.(*ast.StarExpr); ok {
							t = s.X
						}
						switch t := t.(type) {
						case *ast.Ident:
							sd.fields[t.Name] = text
						case *ast.SelectorExpr:
							sd.fields[t.Sel.Name] = text
						}
					}
					for _, n := range fld.Names {
						sd.fields[n.Name] = text
					}
				}
				docs[ts.Name.Name] = sd
			}
		}
	}
	return docs, nil
}

type refRow struct {
	key, typ, def, desc string
}

type refSection struct {
	path, anchor, doc string
	rows              []refRow
}

type refRenderer struct {
	docs     typeDocs
	pkgPath  string
	sections []*refSection
	// seen maps a struct type to the anchor of its section: a type shared
	// by several fields (or a recursive one) is described once.
	seen map[reflect.Type]string
}

// renderReference renders the reference of root, a struct type of the
// package documented by docs; newRoot returns a pointer to a zero root,
// whose Defaults method, if any, gives the defaults.
func renderReference(root reflect.Type, docs typeDocs, newRoot func() any) string {
	rootPkg = root.PkgPath()
	r := &refRenderer{docs: docs, pkgPath: root.PkgPath(), seen: map[reflect.Type]string{}}
	zero := reflect.ValueOf(defaulted(newRoot, false)).Elem()
	filled := reflect.ValueOf(defaulted(newRoot, true)).Elem()
	r.section(root, "", "top-level", zero, filled)

	var b strings.Builder
	b.WriteString(referenceIntro)
	for _, s := range r.sections {
		title := "Top level"
		if s.path != "" {
			title = "`" + s.path + "`"
		}
		fmt.Fprintf(&b, "\n<a id=\"%s\"></a>\n\n## %s\n\n", s.anchor, title)
		if s.doc != "" {
			b.WriteString(s.doc + "\n\n")
		}
		b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
		for _, row := range s.rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", row.key, row.typ, cell(row.def), cell(row.desc))
		}
	}
	return b.String()
}

// defaulted returns a new root with Defaults applied. With fill, every
// nil pointer to a struct is allocated and every list or map of structs
// gets one element first, so that the defaults Defaults gives to list
// elements and optional blocks show too.
func defaulted(newRoot func() any, fill bool) (v any) {
	v = newRoot()
	if fill {
		fillValue(reflect.ValueOf(v).Elem(), map[reflect.Type]bool{})
	}
	if d, ok := v.(interface{ Defaults() }); ok {
		func() {
			defer func() {
				if recover() != nil { // a Defaults that cannot take the filled value
					v = newRoot()
				}
			}()
			d.Defaults()
		}()
	}
	return v
}

func fillValue(v reflect.Value, inPath map[reflect.Type]bool) {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		if structish(t.Elem()) && !inPath[t.Elem()] && v.IsNil() && v.CanSet() {
			v.Set(reflect.New(t.Elem()))
		}
		if !v.IsNil() {
			fillValue(v.Elem(), inPath)
		}
	case reflect.Struct:
		if inPath[t] {
			return
		}
		inPath[t] = true
		defer delete(inPath, t)
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() || f.Anonymous {
				fillValue(v.Field(i), inPath)
			}
		}
	case reflect.Slice:
		if structish(t.Elem()) && !inPath[deref(t.Elem())] && v.Len() == 0 && v.CanSet() {
			v.Set(reflect.MakeSlice(t, 1, 1))
		}
		for i := range v.Len() {
			fillValue(v.Index(i), inPath)
		}
	case reflect.Map:
		if structish(t.Elem()) && !inPath[deref(t.Elem())] && v.Len() == 0 && t.Key().Kind() == reflect.String && v.CanSet() {
			e := reflect.New(t.Elem()).Elem()
			fillValue(e, inPath)
			m := reflect.MakeMap(t)
			m.SetMapIndex(reflect.ValueOf("NAME").Convert(t.Key()), e)
			v.Set(m)
		}
	}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func structish(t reflect.Type) bool { return deref(t).Kind() == reflect.Struct && !isOpaque(deref(t)) }

// rootPkg is the package whose structs are documented; set by
// renderReference.
var rootPkg string

// isOpaque: types that decode themselves (UnmarshalYAML, UnmarshalText),
// so their Go fields say nothing of how they are written, and other
// packages' structs without a YAML-tagged field.
func isOpaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, m := range []string{"UnmarshalYAML", "UnmarshalText"} {
		if _, ok := pt.MethodByName(m); ok {
			return true
		}
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == rootPkg {
		return false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("yaml") != "" {
			return false
		}
	}
	return true
}

// section describes struct type t at path; zero and filled are its
// defaulted values (either may be invalid).
func (r *refRenderer) section(t reflect.Type, path, anchor string, zero, filled reflect.Value) {
	s := &refSection{path: path, anchor: anchor}
	r.seen[t] = anchor
	r.sections = append(r.sections, s)
	if d := r.docOf(t); d != nil {
		s.doc = oneLine(d.doc)
	}
	r.fields(s, t, path, zero, filled)
}

func (r *refRenderer) docOf(t reflect.Type) *structDoc {
	if t.PkgPath() != r.pkgPath {
		return nil
	}
	return r.docs[t.Name()]
}

func (r *refRenderer) fields(s *refSection, t reflect.Type, path string, zero, filled reflect.Value) {
	sd := r.docOf(t)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous { // yaml inlines unexported embedded structs
			continue
		}
		key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" {
			continue
		}
		fz, ff := field(zero, i), field(filled, i)
		if strings.Contains(opts, "inline") && deref(f.Type).Kind() == reflect.Struct {
			r.fields(s, deref(f.Type), path, derefValue(fz), derefValue(ff))
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		desc := ""
		if sd != nil {
			desc = oneLine(sd.fields[f.Name])
		}
		if d := r.docOf(deref(f.Type)); desc == "" && d != nil {
			desc = oneLine(d.doc) // an undocumented block: its type's doc
		}
		desc, phrase := cutDefault(desc)
		row := refRow{key: key, desc: desc}
		row.typ = r.typeText(f.Type, sub, fz, ff)
		if def := formatDefault(fz); def != "" {
			row.def = "`" + def + "`"
		} else if def := formatDefault(ff); def != "" && !fz.IsValid() {
			row.def = "`" + def + "`"
		} else {
			row.def = phrase
		}
		s.rows = append(s.rows, row)
	}
}

// typeText describes t for a row, adding the section of a struct type.
func (r *refRenderer) typeText(t reflect.Type, path string, zero, filled reflect.Value) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t == reflect.TypeFor[time.Time]():
		return "timestamp"
	case t.Kind() != reflect.Pointer && isOpaque(t) && t.Name() != "":
		return "`" + t.String() + "`"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return r.typeText(t.Elem(), path, derefValue(zero), derefValue(filled))
	case reflect.Struct:
		return "object, " + r.link(t, path, zero, filled)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string (base64)"
		}
		if structish(t.Elem()) {
			return "list of objects, " + r.link(deref(t.Elem()), path+"[]", reflect.Value{}, derefValue(index(filled, 0)))
		}
		return "list of " + plural(r.typeText(t.Elem(), path+"[]", reflect.Value{}, reflect.Value{}))
	case reflect.Map:
		if structish(t.Elem()) {
			var e reflect.Value
			if filled.IsValid() && filled.Kind() == reflect.Map && filled.Len() > 0 {
				e = derefValue(filled.MapIndex(filled.MapKeys()[0]))
			}
			return "map of " + r.typeText(t.Key(), path, reflect.Value{}, reflect.Value{}) + " to objects, " +
				r.link(deref(t.Elem()), path+".NAME", reflect.Value{}, e)
		}
		return "map of " + r.typeText(t.Key(), path, reflect.Value{}, reflect.Value{}) + " to " + plural(r.typeText(t.Elem(), path, reflect.Value{}, reflect.Value{}))
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Interface:
		return "any"
	}
	return t.String()
}

func (r *refRenderer) link(t reflect.Type, path string, zero, filled reflect.Value) string {
	anchor, ok := r.seen[t]
	if !ok {
		anchor = anchorOf(path)
		r.section(t, path, anchor, zero, filled)
	}
	title := path
	for _, s := range r.sections {
		if s.anchor == anchor {
			title = s.path
		}
	}
	return fmt.Sprintf("see [`%s`](#%s)", title, anchor)
}

func anchorOf(path string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(path) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '.' || c == '_' || c == '-':
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func plural(s string) string {
	switch {
	case strings.HasPrefix(s, "list of "), strings.HasPrefix(s, "map of "), strings.HasPrefix(s, "`"):
		return s
	case strings.HasSuffix(s, "s"):
		return s + "es"
	}
	return s + "s"
}

func field(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Field(i)
}

func index(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() || (v.Kind() != reflect.Slice && v.Kind() != reflect.Array) || v.Len() <= i {
		return reflect.Value{}
	}
	return v.Index(i)
}

func derefValue(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// formatDefault writes a defaulted scalar or list of scalars the way it
// is written in YAML; "" for zero values and structs.
func formatDefault(v reflect.Value) string {
	v = derefValue(v)
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return shortDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		var parts []string
		for i := range v.Len() {
			s := formatDefault(v.Index(i))
			if s == "" && v.Index(i).Kind() != reflect.String {
				return "" // a list of objects is described in its section
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		var parts []string
		iter := v.MapRange()
		for iter.Next() {
			s := formatDefault(iter.Value())
			if s == "" {
				return ""
			}
			parts = append(parts, fmt.Sprint(iter.Key().Interface())+": "+s)
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// shortDuration writes 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// cutDefault splits the "Default: ..." sentence off a description.
func cutDefault(desc string) (rest, phrase string) {
	i := strings.Index(desc, "Default: ")
	if i < 0 {
		return desc, ""
	}
	tail := desc[i+len("Default: "):]
	end := len(tail)
	// The sentence ends at a period followed by a space and a capital
	// letter, or at the end.
	for j := 0; j+2 < len(tail); j++ {
		if tail[j] == '.' && tail[j+1] == ' ' && tail[j+2] >= 'A' && tail[j+2] <= 'Z' {
			end = j + 1
			break
		}
	}
	phrase = strings.TrimSuffix(strings.TrimSpace(tail[:end]), ".")
	rest = oneLine(desc[:i] + tail[end:])
	return rest, phrase
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell escapes a table cell: pipes everywhere, and angle brackets outside
// code spans (they would be taken for HTML).
func cell(s string) string {
	parts := strings.Split(s, "`")
	for i := range parts {
		if i%2 == 0 {
			parts[i] = strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(parts[i])
		}
	}
	return strings.ReplaceAll(strings.Join(parts, "`"), "|", `\|`)
}
