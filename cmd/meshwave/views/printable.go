package views

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Printable returns s with every character that could drive a terminal made
// visible: C0 controls other than newline and tab (ESC starts the escape
// sequences that move the cursor, rewrite the title or the clipboard, or
// hide text), DEL, C1 controls (U+009B is a CSI of its own), bytes that are
// not UTF-8 (a lone 0x9b is a CSI to an 8-bit terminal), and the bidi
// overrides that reorder what the reader sees. They are written as Go
// escapes: ESC becomes `\x1b`, U+202E becomes `\u202e`.
//
// This is the one place that rule lives. Every view, and every command that
// prints text read from a file (a plan source, a state file, a saved plan),
// passes that text through it before it reaches a terminal. The JSON views
// need not: encoding/json escapes what a terminal would act on.
func Printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

func unsafeRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// printable returns a copy of v in which every string, however deep, has
// been through Printable; v itself is not changed. The views call it on
// what they are given, so a field added to the model later is covered
// without anyone remembering to.
func printable[T any](v T) T {
	in := reflect.ValueOf(&v).Elem()
	out := reflect.New(in.Type()).Elem()
	out.Set(cleanValue(in))
	return out.Interface().(T)
}

func cleanValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		c := reflect.New(v.Type()).Elem()
		c.SetString(Printable(v.String()))
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(cleanValue(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(cleanValue(v.Index(i)))
		}
		return c
	case reflect.Array:
		c := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			c.Index(i).Set(cleanValue(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(cleanValue(it.Key()), cleanValue(it.Value()))
		}
		return c
	case reflect.Struct:
		// Copy the whole value (unexported fields too, such as a
		// time.Time's), then clean the fields that can be set.
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if f := c.Field(i); f.CanSet() {
				f.Set(cleanValue(v.Field(i)))
			}
		}
		return c
	}
	return v
}
