// The official Go client (gokiteconnect) through Kite App, with a gateway client's credentials.
//
//	probe rest API_KEY ACCESS_TOKEN ROOT INSTRUMENT_TOKEN FROM TO
//	    Calls the REST API through the gateway at ROOT (FROM, TO: the candles' hour, "2006-01-02 15:04:05")
//	    and prints one JSON line: for each call, what it answered or its error.
//	probe ticker API_KEY ACCESS_TOKEN URL MODE SECONDS
//	    Connects the Go KiteTicker to the ticker hub at URL, subscribes INFY and NIFTY 50 in MODE, prints
//	    {"ready": true} once both have ticked in MODE, then a JSON summary when an order update with
//	    status COMPLETE has come, or when SECONDS have passed.
//
// Errors are printed as "<error_type>: <message>", Kite's error_type as the client read it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	// Kite's times are IST: the client loads Asia/Kolkata, which must not depend on the machine's zoneinfo.
	_ "time/tzdata"

	kiteconnect "github.com/zerodha/gokiteconnect/v4"
	"github.com/zerodha/gokiteconnect/v4/models"
	kiteticker "github.com/zerodha/gokiteconnect/v4/ticker"
)

const (
	infy  = 408065
	nifty = 256265
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "rest":
		if len(os.Args) != 8 {
			usage()
		}
		rest(os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6], os.Args[7])
	case "ticker":
		if len(os.Args) != 7 {
			usage()
		}
		seconds, err := strconv.Atoi(os.Args[6])
		if err != nil {
			usage()
		}
		ticker(os.Args[2], os.Args[3], os.Args[4], os.Args[5], time.Duration(seconds)*time.Second)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe rest API_KEY ACCESS_TOKEN ROOT INSTRUMENT_TOKEN FROM TO")
	fmt.Fprintln(os.Stderr, "       probe ticker API_KEY ACCESS_TOKEN URL MODE SECONDS")
	os.Exit(2)
}

// answer is one call's outcome: its data, or its error with the HTTP status the client saw.
type answer struct {
	Data  interface{} `json:"data,omitempty"`
	Error string      `json:"error,omitempty"`
	Code  int         `json:"code,omitempty"`
}

// record keeps each call's answer under its name; a call answers whether it succeeded.
type record map[string]answer

func (seen record) call(name string, data interface{}, err error) bool {
	if err == nil {
		seen[name] = answer{Data: data}
		return true
	}
	var kite kiteconnect.Error
	if errors.As(err, &kite) {
		seen[name] = answer{Error: kite.ErrorType + ": " + kite.Message, Code: kite.Code}
	} else {
		seen[name] = answer{Error: "error: " + err.Error()}
	}
	return false
}

func printJSON(value interface{}) {
	line, err := json.Marshal(value)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot encode the results:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}

func rest(apiKey, accessToken, root, token, from, to string) {
	instrument, err := strconv.Atoi(token)
	if err != nil {
		usage()
	}
	start, errStart := time.Parse("2006-01-02 15:04:05", from)
	end, errEnd := time.Parse("2006-01-02 15:04:05", to)
	if errStart != nil || errEnd != nil {
		usage()
	}

	kc := kiteconnect.New(apiKey)
	kc.SetAccessToken(accessToken)
	kc.SetBaseURI(root)
	seen := record{}

	profile, err := kc.GetUserProfile()
	seen.call("GetUserProfile", profile, err)
	ltp, err := kc.GetLTP("NSE:INFY")
	seen.call("GetLTP", ltp, err)
	quote, err := kc.GetQuote("NSE:INFY")
	seen.call("GetQuote", quote, err)

	candles, err := kc.GetHistoricalData(instrument, "minute", start, end, false, false)
	if seen.call("GetHistoricalData", nil, err) && len(candles) > 0 {
		seen["GetHistoricalData"] = answer{Data: map[string]interface{}{
			"count": len(candles), "first": candles[0], "last": candles[len(candles)-1],
		}}
	}
	all, err := kc.GetInstruments()
	if seen.call("GetInstruments", nil, err) {
		seen["GetInstruments"] = answer{Data: instrumentsSummary(all)}
	}
	nse, err := kc.GetInstrumentsByExchange("NSE")
	if seen.call("GetInstrumentsByExchange", nil, err) {
		seen["GetInstrumentsByExchange"] = answer{Data: instrumentsSummary(nse)}
	}

	order := kiteconnect.OrderParams{
		Exchange:        kiteconnect.ExchangeNSE,
		Tradingsymbol:   "INFY",
		TransactionType: kiteconnect.TransactionTypeBuy,
		Product:         kiteconnect.ProductCNC,
		OrderType:       kiteconnect.OrderTypeLimit,
		Quantity:        1,
		Price:           1400,
	}
	placed, err := kc.PlaceOrder(kiteconnect.VarietyRegular, order)
	if seen.call("PlaceOrder", placed, err) {
		modified, err := kc.ModifyOrder(kiteconnect.VarietyRegular, placed.OrderID, kiteconnect.OrderParams{Price: 1401})
		seen.call("ModifyOrder", modified, err)
		cancelled, err := kc.CancelOrder(kiteconnect.VarietyRegular, placed.OrderID, nil)
		seen.call("CancelOrder", cancelled, err)
		history, err := kc.GetOrderHistory(placed.OrderID)
		seen.call("GetOrderHistory", history, err)
	}

	trigger := &kiteconnect.GTTSingleLegTrigger{
		TriggerParams: kiteconnect.TriggerParams{TriggerValue: 1450, LimitPrice: 1451, Quantity: 1},
	}
	gtt := kiteconnect.GTTParams{
		Tradingsymbol:   "INFY",
		Exchange:        kiteconnect.ExchangeNSE,
		LastPrice:       1500,
		TransactionType: kiteconnect.TransactionTypeBuy,
		Product:         kiteconnect.ProductCNC,
		Trigger:         trigger,
	}
	created, err := kc.PlaceGTT(gtt)
	if seen.call("PlaceGTT", created, err) {
		got, err := kc.GetGTT(created.TriggerID)
		seen.call("GetGTT", got, err)
		listed, err := kc.GetGTTs()
		seen.call("GetGTTs", gttStatuses(listed), err)
		deleted, err := kc.DeleteGTT(created.TriggerID)
		seen.call("DeleteGTT", deleted, err)
		listed, err = kc.GetGTTs()
		seen.call("GetGTTsAfterDelete", gttStatuses(listed), err)
	}

	// A program behind the gateway never holds Kite's secret: the gateway refuses the token exchange.
	session, err := kc.GenerateSession("some-request-token", "some-secret")
	seen.call("GenerateSession", session, err)

	printJSON(seen)
}

// instrumentsSummary: how many instruments the CSV held, and the first one as the client decoded it.
func instrumentsSummary(instruments kiteconnect.Instruments) map[string]interface{} {
	summary := map[string]interface{}{"count": len(instruments)}
	if len(instruments) > 0 {
		first := instruments[0]
		summary["first"] = map[string]interface{}{
			"instrument_token": first.InstrumentToken,
			"tradingsymbol":    first.Tradingsymbol,
			"exchange":         first.Exchange,
			"segment":          first.Segment,
			"tick_size":        first.TickSize,
			"lot_size":         first.LotSize,
		}
	}
	exchanges := map[string]int{}
	for _, instrument := range instruments {
		exchanges[instrument.Exchange]++
	}
	summary["exchanges"] = exchanges
	return summary
}

// gttStatuses: each listed trigger's status under its id.
func gttStatuses(gtts kiteconnect.GTTs) map[string]string {
	statuses := map[string]string{}
	for _, gtt := range gtts {
		statuses[strconv.Itoa(gtt.ID)] = gtt.Status
	}
	return statuses
}

// tickerSummary is what the ticker saw: ticks per mode, the last tick of each instrument in the
// asked mode, order updates, errors, and the close the server sent (if any).
type tickerSummary struct {
	Connected bool                   `json:"connected"`
	Counts    map[string]int         `json:"counts"`
	Last      map[string]models.Tick `json:"last"`
	Orders    []kiteconnect.Order    `json:"orders"`
	Errors    []string               `json:"errors"`
	Close     string                 `json:"close,omitempty"`
}

func ticker(apiKey, accessToken, root, mode string, patience time.Duration) {
	hub, err := url.Parse(root)
	if err != nil {
		usage()
	}
	var (
		lock    sync.Mutex
		summary = tickerSummary{Counts: map[string]int{}, Last: map[string]models.Tick{}, Orders: []kiteconnect.Order{}, Errors: []string{}}
		ready   = make(chan struct{})
		done    = make(chan struct{})
		isReady bool
		isDone  bool
	)
	finish := func() {
		if !isDone {
			isDone = true
			close(done)
		}
	}

	kt := kiteticker.New(apiKey, accessToken)
	kt.SetRootURL(*hub)
	// No reconnects: a dropped or refused connection is part of what the test sees. (With auto
	// reconnect off, gokiteconnect goes on with a nil connection after a failed handshake; auto
	// reconnect with no retries stops cleanly instead.)
	kt.SetAutoReconnect(true)
	kt.SetReconnectMaxRetries(0)
	kt.OnConnect(func() {
		lock.Lock()
		summary.Connected = true
		lock.Unlock()
		tokens := []uint32{infy, nifty}
		if err := kt.Subscribe(tokens); err != nil {
			kt.Stop()
			return
		}
		kt.SetMode(kiteticker.Mode(mode), tokens)
	})
	kt.OnTick(func(tick models.Tick) {
		lock.Lock()
		defer lock.Unlock()
		summary.Counts[tick.Mode]++
		if tick.Mode != mode {
			return
		}
		summary.Last[strconv.Itoa(int(tick.InstrumentToken))] = tick
		if !isReady && len(summary.Last) == 2 {
			isReady = true
			close(ready)
		}
	})
	kt.OnOrderUpdate(func(order kiteconnect.Order) {
		lock.Lock()
		defer lock.Unlock()
		summary.Orders = append(summary.Orders, order)
		if order.Status == kiteconnect.OrderStatusComplete {
			finish()
		}
	})
	kt.OnError(func(err error) {
		lock.Lock()
		defer lock.Unlock()
		summary.Errors = append(summary.Errors, err.Error())
	})
	kt.OnClose(func(code int, reason string) {
		lock.Lock()
		defer lock.Unlock()
		summary.Close = fmt.Sprintf("%d %s", code, reason)
	})
	kt.OnNoReconnect(func(attempt int) {
		lock.Lock()
		defer lock.Unlock()
		finish()
	})
	go kt.Serve()

	deadline := time.After(patience)
	select {
	case <-ready:
		fmt.Println(`{"ready": true}`)
		select {
		case <-done:
		case <-deadline:
		}
	case <-done:
	case <-deadline:
	}

	lock.Lock()
	printJSON(summary)
	connected := summary.Connected && kt.Conn != nil
	lock.Unlock()
	if connected {
		kt.Close() // a normal close, so that the hub sees the client leave rather than vanish
		time.Sleep(200 * time.Millisecond)
	}
}
