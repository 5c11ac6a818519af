// Package jsonplan is the public JSON form of a computed plan, the document
// plan -json and show -json print (docs/json-format.md): its versioned types,
// the conversion from and to the plan model, and the encoder.
//
// It lives beside the model rather than with the views because the saved
// plan (plan/planfile) embeds this same document under "plan": one type for
// both keeps a saved plan and show -json from drifting apart, and planfile
// must not import the command's views. The model (package plan) carries no
// JSON tags; a change to it reaches users only through a change here, which
// bumps FormatVersion.
//
// It must not know the saved file around the plan (planfile does), nor
// render anything but this document.
package jsonplan
