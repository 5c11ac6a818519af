package config

import (
	"fmt"
	"sort"
	"strings"
)

// Flavor names the kind of Istio installation an upgrade targets. Each
// flavor the language knows has a file of its own (flavor_NAME.go) with its
// name and its flavorLanguage, registered once in flavors below; the
// planner's side of a flavor is plan's FlavorRules.
type Flavor string

// flavorLanguage is what the plan language knows of a flavor: how its
// revisions are spelled and whether it has revision tags.
type flavorLanguage interface {
	// description says, in the "Invalid flavor" diagnostic, what the
	// flavor is and how its revisions look.
	description() string
	// revisionProblem says why rev (not empty, not "default") is not a
	// revision of the flavor; "" when it is one.
	revisionProblem(rev string) string
	// tagsProblem is the summary and detail of the diagnostic for a tag
	// block under this flavor; "" when the flavor has revision tags.
	tagsProblem() (summary, detail string)
	// installProblem is the summary and detail of the diagnostic for an
	// install block under this flavor; "" when the flavor can install its
	// target from a manifest.
	installProblem() (summary, detail string)
	// manifestExample says, in the "Empty manifest" diagnostic, what the
	// manifest file of an install of revision to holds and how to write it.
	manifestExample(to, file string) string
}

// flavors registers every flavor the language knows, by name.
var flavors = map[Flavor]flavorLanguage{
	FlavorBackyards: backyardsLanguage{},
	FlavorIstio:     istioLanguage{},
}

// Valid reports whether f is a flavor this build knows.
func (f Flavor) Valid() bool {
	_, ok := flavors[f]
	return ok
}

// Flavors lists the names of the flavors this build knows, sorted.
func Flavors() []Flavor {
	names := make([]Flavor, 0, len(flavors))
	for f := range flavors {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// flavorChoices is the list of flavors as the "Invalid flavor" diagnostic
// offers them: `"a" (what a is) or "b" (what b is)`.
func flavorChoices() string {
	var choices []string
	for _, f := range Flavors() {
		choices = append(choices, fmt.Sprintf("%q (%s)", f, flavors[f].description()))
	}
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// RevisionProblem says why rev is not a revision of flavor f as an
// upgrade's from or to spells it, "default" being one in every flavor; ""
// when it is one. meshwave generate tells the flavor of a cluster's
// revisions by it.
func (f Flavor) RevisionProblem(rev string) string {
	if rev == DefaultRevision {
		return ""
	}
	return revisionProblem(f, rev)
}

// HasTags reports whether the flavor has revision tags (tag blocks).
func (f Flavor) HasTags() bool {
	lang, ok := flavors[f]
	if !ok {
		return false
	}
	summary, _ := lang.tagsProblem()
	return summary == ""
}
