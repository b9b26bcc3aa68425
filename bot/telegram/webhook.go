package telegram

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/supportbot/supportbot/bot"
)

// secretHeader carries the secret_token we gave setWebhook.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Routes adds POST WebhookPath to mux (tgbotapi's ListenForWebhook would
// use http.DefaultServeMux). In polling mode it answers 404.
func (b *Bot) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+WebhookPath, b.webhook)
}

// webhook takes one update from Telegram. It answers 200 only once the
// dispatcher has recorded the update; anything else makes Telegram send
// it again.
func (b *Bot) webhook(w http.ResponseWriter, r *http.Request) {
	if b.cfg.WebhookURL == "" {
		http.NotFound(w, r)
		return
	}
	got := r.Header.Get(secretHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(b.cfg.WebhookSecret)) != 1 {
		b.log.Warn("telegram: webhook request with a wrong or missing secret token; refused", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	api := b.api.Load()
	if api == nil {
		// Not connected yet (we need our own name for groups): later.
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	var up update
	if err := json.Unmarshal(body, &up); err != nil {
		b.log.Warn("telegram: unreadable webhook update; refused", "err", err)
		http.Error(w, "bad update", http.StatusBadRequest)
		return
	}
	if cq := up.CallbackQuery; cq != nil {
		b.answer(cq.ID)
	}
	u, kind, ok := b.convert(&up, api.Self)
	b.cfg.Obs.Received(Platform, kind)
	if ok {
		if err := b.cfg.In.Accept(r.Context(), u); err != nil {
			if !errors.Is(err, bot.ErrClosed) {
				b.log.Warn("telegram: webhook update not recorded; Telegram will send it again",
					"conv", bot.ConvHash(u.Conv), "err", err)
			}
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}
