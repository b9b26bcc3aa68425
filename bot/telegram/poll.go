package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
)

// pollLimit is the most updates one getUpdates returns.
const pollLimit = 100

// poll runs our own getUpdates loop (not tgbotapi's GetUpdatesChan, which
// sleeps a fixed 3 s on any error and cannot be stopped twice). An update
// is confirmed, by asking for the next offset, only once the dispatcher
// has recorded it, so a crash never loses one; a redelivery is dropped by
// the dispatcher's de-duplication.
func (b *Bot) poll(ctx context.Context, api *tgbotapi.BotAPI) {
	offset, confirmed := 0, 0
	allowed := jsonParam(allowedUpdates)
	backoff := b.retryMin
	conflicts := 0
	// After a failed poll, the next one returns at once (timeout 0): a long
	// poll would keep the bot "not ready" for up to pollTimeout after
	// Telegram is back.
	quick := false
	// Connected, and no webhook in the way: ready until a poll fails.
	b.ready.Store(true)
	for ctx.Err() == nil {
		timeout := pollTimeout
		if quick {
			timeout = 0
		}
		p := tgbotapi.Params{
			"timeout":         strconv.Itoa(timeout),
			"limit":           strconv.Itoa(pollLimit),
			"allowed_updates": allowed,
		}
		p.AddNonZero("offset", offset)
		resp, err := b.call(ctx, "getUpdates", p, retryPolicy{once: true})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			b.ready.Store(false)
			quick = true
			wait := jittered(backoff)
			backoff = min(backoff*2, b.retryMax)
			var e *apiError
			errors.As(err, &e)
			switch {
			case e != nil && e.class == bot.CallRateLimited:
				wait = e.retryAfter
			case e != nil && e.conflict():
				conflicts++
				if conflicts <= 3 || conflicts%20 == 0 {
					b.log.Error("telegram: 409 Conflict from getUpdates: another process is polling with this token, "+
						"or a webhook is set. Run one poller per token; several replicas need webhook mode (TELEGRAM_WEBHOOK_URL). Retrying.",
						"err", e.desc, "wait", wait.Round(time.Millisecond), "conflicts", conflicts)
				}
			case e != nil && e.unauthorized():
				b.log.Error("telegram: the Bot API refuses the token; retrying", "err", e.desc, "wait", wait.Round(time.Millisecond))
			default:
				b.log.Warn("telegram: getUpdates failed; retrying", "err", err, "wait", wait.Round(time.Millisecond))
			}
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		confirmed = offset
		conflicts, quick = 0, false
		b.ready.Store(true)
		ups := b.decodeUpdates(resp.result)
		next, err := b.acceptBatch(ctx, api, ups)
		if next > offset {
			offset = next
		}
		if err == nil {
			backoff = b.retryMin
			continue
		}
		if ctx.Err() != nil {
			break
		}
		// The dispatcher could not record an update (its store is down, or
		// it is shutting down): ask again for what it did not take.
		wait := jittered(backoff)
		backoff = min(backoff*2, b.retryMax)
		if !errors.Is(err, bot.ErrClosed) {
			b.log.Warn("telegram: updates not recorded; they will be fetched again", "err", err, "wait", wait.Round(time.Millisecond))
		}
		if !sleep(ctx, wait) {
			break
		}
	}
	if offset > confirmed {
		// Confirm what was recorded since the last call, so the next start
		// does not fetch it again (it would be dropped as a duplicate).
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := tgbotapi.Params{"offset": strconv.Itoa(offset), "timeout": "0", "limit": "1", "allowed_updates": allowed}
		if _, err := b.call(cctx, "getUpdates", p, retryPolicy{once: true}); err != nil {
			b.log.Debug("telegram: could not confirm the last updates; they come again and are dropped as duplicates", "err", err)
		}
	}
}

// polled is one update of a getUpdates answer; bad marks one we could
// not read (it is skipped, and confirmed).
type polled struct {
	up  update
	bad bool
}

func (b *Bot) decodeUpdates(raw json.RawMessage) []polled {
	var ups []update
	if err := json.Unmarshal(raw, &ups); err == nil {
		out := make([]polled, len(ups))
		for i := range ups {
			out[i].up = ups[i]
		}
		return out
	}
	// Something in the batch is unreadable: read them one by one, and skip
	// (and confirm) the bad ones.
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		b.log.Error("telegram: unreadable getUpdates result", "err", err)
		return nil
	}
	out := make([]polled, len(list))
	for i, r := range list {
		if err := json.Unmarshal(r, &out[i].up); err != nil {
			var id struct {
				UpdateID int `json:"update_id"`
			}
			_ = json.Unmarshal(r, &id)
			out[i] = polled{up: update{UpdateID: id.UpdateID}, bad: true}
			b.log.Warn("telegram: unreadable update; skipped", "update_id", id.UpdateID, "err", err)
		}
	}
	return out
}

// acceptBatch hands a batch to the dispatcher: one conversation's updates
// in order, different conversations at once (a store that commits in
// groups then writes them together). It returns the offset to confirm:
// past everything recorded or ignored, up to the first update that was not
// recorded.
func (b *Bot) acceptBatch(ctx context.Context, api *tgbotapi.BotAPI, ups []polled) (int, error) {
	if len(ups) == 0 {
		return 0, nil
	}
	self := api.Self
	type item struct {
		id int
		u  bot.Update
	}
	var order []string
	groups := map[string][]item{}
	for i := range ups {
		up := &ups[i].up
		if ups[i].bad {
			b.cfg.Obs.Received(Platform, "ignored")
			continue
		}
		if cq := up.CallbackQuery; cq != nil {
			b.answer(cq.ID)
		}
		u, kind, ok := b.convert(up, self)
		b.cfg.Obs.Received(Platform, kind)
		if !ok {
			continue
		}
		if _, seen := groups[u.Conv]; !seen {
			order = append(order, u.Conv)
		}
		groups[u.Conv] = append(groups[u.Conv], item{up.UpdateID, u})
	}
	failed := -1 // the lowest update id not recorded
	var firstErr error
	var mu sync.Mutex
	run := func(items []item) {
		for _, it := range items {
			if err := b.cfg.In.Accept(ctx, it.u); err != nil {
				mu.Lock()
				if failed < 0 || it.id < failed {
					failed, firstErr = it.id, err
				}
				mu.Unlock()
				return // the rest of this conversation waits for the redelivery
			}
		}
	}
	if len(order) == 1 {
		run(groups[order[0]])
	} else {
		var wg sync.WaitGroup
		for _, conv := range order {
			wg.Go(func() { run(groups[conv]) })
		}
		wg.Wait()
	}
	if failed >= 0 {
		return failed, firstErr
	}
	return ups[len(ups)-1].up.UpdateID + 1, nil
}
