package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

var (
	errEOF       = io.EOF
	typeOfConfig = reflect.TypeFor[Config]()
)

// expand replaces ${VAR} (and ${VAR:-default}) inside scalar values, never
// in keys. A lone "$" is left alone so secrets may contain it.
func expand(n *yaml.Node, env lookupFunc, path string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			if err := expand(c, env, p); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expand(n.Content[i+1], env, join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		v, err := expandString(n.Value, env)
		if err != nil {
			return fmt.Errorf("%s (line %d): %w", where(path), n.Line, err)
		}
		if v != n.Value {
			n.Value = v
			if n.Style == 0 {
				n.Tag = "" // a plain scalar is typed by its expanded value (ports, booleans)
				if n.ShortTag() == "!!null" && v != "" {
					n.Tag = "!!str" // but a value of "null" or "~" stays text, not nothing
				}
			}
		}
	}
	return nil
}

func expandString(s string, env lookupFunc) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		name, def, hasDef := strings.Cut(s[i+2:i+end], ":-")
		v, ok := env(name)
		switch {
		case ok:
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("environment variable %s is not set", oneLine(name))
		}
		s = s[i+end+1:]
	}
}

// checkKeys walks the YAML tree beside the Go type and rejects keys the type
// does not have, naming the full key path and the line.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%s (line %d): unknown key", join(path, k.Value), k.Line)
			}
			if err := checkKeys(n.Content[i+1], ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps the keys of struct type t to their field types. The keys
// of a field tagged ",inline" are t's own keys, as the decoder sees them.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			maps.Copy(m, yamlFields(f.Type))
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func join(path, key string) string {
	if key == "" || strings.ContainsFunc(key, notPrint) {
		key = strconv.Quote(key) // keep the message one visible line
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// where names a key path in a message; the empty path is the document.
func where(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func notPrint(r rune) bool { return !unicode.IsPrint(r) }

// oneLine escapes what would break a one-line message (newlines, control
// and invisible characters) and leaves everything else as it was.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && notPrint(r) }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// typeError turns a decoding error into one line naming the key, like the
// other errors: yaml reports only "line N: cannot unmarshal !!tag ...", one
// line per bad value.
func typeError(root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return err
	}
	msg := oneLine(te.Errors[0]) // the message quotes the start of the value
	var line int
	var tag string
	if _, scanErr := fmt.Sscanf(msg, "line %d: cannot unmarshal %s", &line, &tag); scanErr == nil {
		if p := keyAt(root, line, tag, ""); p != "" {
			_, rest, _ := strings.Cut(msg, ": ")
			return fmt.Errorf("%s (line %d): %s", p, line, rest)
		}
	}
	return errors.New(msg)
}

// keyAt returns the path of the deepest value with the tag on line.
func keyAt(n *yaml.Node, line int, tag, path string) string {
	found := ""
	visit := func(c *yaml.Node, p string) {
		if c.Line == line && c.ShortTag() == tag {
			found = p
		}
		if d := keyAt(c, line, tag, p); d != "" {
			found = d
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if d := keyAt(c, line, tag, path); d != "" {
				found = d
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			visit(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			visit(n.Content[i+1], join(path, n.Content[i].Value))
		}
	}
	return found
}

var typeOfDuration = reflect.TypeFor[time.Duration]()

// checkTypes walks the YAML tree beside the Go type and decodes each value
// on its own, so that the first one of the wrong kind is reported by its key
// path and line in words an operator can act on, rather than as the
// decoder's "cannot unmarshal !!str into time.Duration". Decoding each value
// with the decoder itself keeps the check from ever disagreeing with it
// about what is accepted.
func checkTypes(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				if err := checkTypes(n.Content[i+1], ft, join(path, n.Content[i].Value)); err != nil {
					return err
				}
			}
		}
		return nil
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			if err := checkTypes(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkTypes(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
		return nil
	}
	var te *yaml.TypeError
	if err := n.Decode(reflect.New(t).Interface()); !errors.As(err, &te) {
		return nil // fine, or an error of another kind that the whole decode reports
	}
	return fmt.Errorf("%s (line %d): %s is not %s", where(path), n.Line, describe(n), expected(t))
}

// describe names a value as the operator wrote it: a scalar quoted, a list
// or mapping by its kind.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if v == "" {
		return "an empty value"
	}
	if r := []rune(v); len(r) > 40 {
		v = string(r[:40]) + "…"
	}
	return "`" + oneLine(v) + "`"
}

// expected says what a value of type t looks like, with an example.
func expected(t reflect.Type) string {
	if t == typeOfDuration {
		return "a duration; use e.g. 12h or 30m"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number; use e.g. 12"
	case reflect.Float32, reflect.Float64:
		return "a number; use e.g. 1.5"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value; quote it if it is meant as text"
	case reflect.Slice, reflect.Array:
		return "a list; use e.g. [a, b], or one \"- item\" line each, indented below the key"
	case reflect.Map, reflect.Struct:
		return "a mapping; put its keys on the lines below, indented"
	}
	return "a " + t.String()
}
