package bot

import (
	"encoding/json"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

// render turns a turn's outputs into replies: the content keys rendered in
// the turn's language, user text marked so adapters escape it.
func (d *Dispatcher) render(u *Update, res *flows.Result) []Reply {
	pack := d.cfg.Pack
	lang := res.Lang
	base := Reply{Platform: u.Platform, Conv: u.Conv, Route: u.Route, Lang: lang}
	out := make([]Reply, 0, len(res.Outputs)+1)
	if res.Pressed && u.Ref != "" {
		r := base
		r.Kind, r.Edit = Collapse, u.Ref
		if res.Chosen != "" {
			r.Chosen, _ = pack.Text(lang, res.Chosen)
		}
		out = append(out, r)
	}
	var data content.Data
	for _, o := range res.Outputs {
		if data == nil {
			data = pack.Data(&res.Session)
		}
		olang := lang
		if o.Lang != "" {
			olang = o.Lang
		}
		text, err := pack.Render(olang, o.Key, pack.With(data, o.Data, o.Items))
		if err != nil {
			// Lint makes this unreachable for a shipped pack; never send "".
			d.cfg.Log.Error("render failed", "key", o.Key, "lang", olang, "err", err)
			text, _ = pack.Text(lang, flows.KeyGeneric)
		}
		r := base
		r.Text, r.Lang = text, olang
		r.Reminder = u.Kind == KindReminder
		if o.Edit && u.Ref != "" {
			// The message follows the user: it replaces the pressed one,
			// which therefore needs no collapsing.
			r.Edit = u.Ref
			if len(out) > 0 && out[0].Kind == Collapse {
				out = out[1:]
			}
		}
		if len(o.Buttons) > 0 {
			r.Buttons = make([]Button, len(o.Buttons))
			for i, b := range o.Buttons {
				label, err := pack.Text(lang, b.Label)
				if err != nil {
					label = b.Label
				}
				r.Buttons[i] = Button{Label: label, Data: b.Data}
			}
		}
		out = append(out, r)
	}
	return out
}

func jsonUser(u UserData) ([]byte, error) { return json.Marshal(u) }
