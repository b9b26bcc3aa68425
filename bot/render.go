package bot

import (
	"encoding/json"

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
	var data map[string]string
	for _, o := range res.Outputs {
		if data == nil {
			data = pack.Data(&res.Session)
		}
		text, err := pack.Render(lang, o.Key, data)
		if err != nil {
			// Lint makes this unreachable for a shipped pack; never send "".
			d.cfg.Log.Error("render failed", "key", o.Key, "lang", lang, "err", err)
			text, _ = pack.Text(lang, flows.KeyGeneric)
		}
		r := base
		r.Text = text
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
