package plan

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

// A new revision is installed with its own settings: nothing of the old
// revision's mesh config or injection values carries over (istio#51310), so
// a setting made by hand on the old one is silently lost by the upgrade.
// The plan lists what differs between the two revisions' settings; a
// difference may well be intended, so it is a listing, not a check.

// Where a control plane's settings come from (SettingChange.Source).
const (
	// SettingsMesh is the mesh config: key mesh of the istio-REV ConfigMap
	// (istio for the default revision), YAML.
	SettingsMesh = "mesh"
	// SettingsValues are the injection values: key values of the
	// istio-sidecar-injector-REV ConfigMap, JSON.
	SettingsValues = "values"
	// SettingsSpec is the spec of a Backyards Istio resource.
	SettingsSpec = "spec"
)

// Bounds of what a snapshot keeps and a plan shows.
const (
	// MaxSettings is how many paths a snapshot keeps per control plane,
	// all its sources together; the rest are counted in Settings.LeftOut.
	MaxSettings = 2000
	// MaxSettingChanges is how many differences a plan lists; the rest
	// are counted in SettingsDiff.More.
	MaxSettingChanges = 20
	// maxSettingValue is the longest value kept as it is; a longer one
	// (an inline injection template) is kept as its start, its length and
	// a hash, which still tells two values apart.
	maxSettingValue = 200
)

// Settings are a control plane's settings, flattened: for each source
// (SettingsMesh, SettingsValues, SettingsSpec) a map from a path
// (FlattenSettings) to the value there as compact JSON. A source the
// cluster does not have is absent, which is not the same as empty.
type Settings struct {
	Sources map[string]map[string]string
	// LeftOut counts the paths past MaxSettings that were not kept.
	LeftOut int
}

// SettingsOf flattens each source's document (as encoding/json decodes it,
// json.Number allowed) and keeps the first MaxSettings paths in the order
// of sources then paths, so the same documents always keep the same paths.
func SettingsOf(docs map[string]any) Settings {
	var s Settings
	sources := make([]string, 0, len(docs))
	for src := range docs {
		sources = append(sources, src)
	}
	sort.Strings(sources)
	kept := 0
	for _, src := range sources {
		flat := FlattenSettings(docs[src])
		paths := make([]string, 0, len(flat))
		for p := range flat {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		m := map[string]string{}
		for _, p := range paths {
			if kept == MaxSettings {
				s.LeftOut++
				continue
			}
			m[p] = flat[p]
			kept++
		}
		if s.Sources == nil {
			s.Sources = map[string]map[string]string{}
		}
		s.Sources[src] = m
	}
	return s
}

// plainKey is a map key written as is in a path; any other key is written
// quoted, as ["sidecar.istio.io/x"], so a key holding a dot is not taken
// for two.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// FlattenSettings turns a decoded document into paths to its values: map
// keys joined by dots (defaultConfig.holdApplicationUntilProxyStarts),
// list items by index (extensionProviders[0].name). A value is a scalar, or
// an empty map or list, written as compact JSON.
func FlattenSettings(doc any) map[string]string {
	out := map[string]string{}
	flattenInto(out, "", doc)
	return out
}

func flattenInto(out map[string]string, path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, child := range x {
			flattenInto(out, joinKey(path, k), child)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, child := range x {
			flattenInto(out, path+"["+strconv.Itoa(i)+"]", child)
		}
	default:
		out[path] = settingValue(x)
	}
}

func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// settingValue is v as compact JSON, cut to maxSettingValue bytes with its
// length and hash when longer.
func settingValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(strconv.Quote(fmt.Sprint(v)))
	}
	if len(b) <= maxSettingValue {
		return string(b)
	}
	cut := maxSettingValue
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%s… (%d bytes, sha256:%x)", b[:cut], len(b), sum[:8])
}

// SettingChange is one path whose value differs between the source and the
// target control plane. From or To is empty when the path is unset there.
type SettingChange struct {
	Source string
	Path   string
	From   string
	To     string
}

// SettingsDiff is what differs between two control planes' settings.
type SettingsDiff struct {
	// Changes are the first MaxSettingChanges differences, by source and
	// path.
	Changes []SettingChange
	// More counts the differences past Changes.
	More int
	// Incomplete: a control plane had more settings than a snapshot keeps
	// (MaxSettings), so differences past them are not known.
	Incomplete bool
}

// CompareSettings lists what differs between from's and to's settings, in
// the sources both have, leaving out the paths expected reports as expected
// to differ between any two revisions (FlavorRules.RevisionSpecific). Nil
// when nothing differs.
func CompareSettings(from, to Settings, expected func(source, path string) bool) *SettingsDiff {
	var all []SettingChange
	for src, old := range from.Sources {
		cur, ok := to.Sources[src]
		if !ok {
			continue
		}
		for p, v := range old {
			if w, ok := cur[p]; (!ok || w != v) && !expected(src, p) {
				all = append(all, SettingChange{Source: src, Path: p, From: v, To: w})
			}
		}
		for p, w := range cur {
			if _, ok := old[p]; !ok && !expected(src, p) {
				all = append(all, SettingChange{Source: src, Path: p, To: w})
			}
		}
	}
	incomplete := from.LeftOut > 0 || to.LeftOut > 0
	if len(all) == 0 && !incomplete {
		return nil
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Source != all[j].Source {
			return all[i].Source < all[j].Source
		}
		return all[i].Path < all[j].Path
	})
	d := &SettingsDiff{Changes: all, Incomplete: incomplete}
	if len(all) > MaxSettingChanges {
		d.Changes, d.More = all[:MaxSettingChanges], len(all)-MaxSettingChanges
	}
	return d
}
