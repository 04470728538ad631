package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the simulator plays on a call instead of, or before, answering it, so
// that the portal's handling of Intune's bad days can be shown and tested.
type Fault struct {
	Status     int           // answer with this status and a Graph error instead of the call's answer
	RetryAfter time.Duration // with 429 (default 10s) or 503: the Retry-After header
	HTML       bool          // with Status (502 when zero): an HTML error page instead of JSON
	Drop       bool          // close the connection without a response, after reading the body
	AfterApply bool          // with Drop, or Status 500, 502 or 504: carry out the call first, then lose or replace its answer
	Latency    time.Duration // wait this long first, then answer (or play the rest of the fault)
	Times      int           // how many calls of the operation it covers: 0 or 1 once, Always every call
	// Claims: a Conditional Access policy now wants the authentication context ClaimsContext
	// for the operation. A token that declares cp1 and lacks it gets Graph's claims challenge
	// (401, WWW-Authenticate error="insufficient_claims"), until a token that carries it
	// arrives; a token without cp1 cannot be challenged, and the call goes through.
	Claims bool
}

// ClaimsContext is the authentication context (acrs) the claims fault asks for.
const ClaimsContext = "c1"

// Always makes a Fault cover every call from now on.
const Always = -1

const defaultRetryAfter = 10 * time.Second

// String is the fault in DEPPORTAL_SANDBOX_FAULTS syntax, without the count.
func (f Fault) String() string {
	var parts []string
	if f.Claims {
		return "claims"
	}
	if f.Latency > 0 {
		parts = append(parts, "latency:"+f.Latency.String())
	}
	switch {
	case f.Drop && f.AfterApply:
		parts = append(parts, "lost")
	case f.Drop:
		parts = append(parts, "drop")
	case f.AfterApply && f.Status != 0:
		parts = append(parts, strconv.Itoa(f.Status)+"applied")
	case f.HTML:
		parts = append(parts, strconv.Itoa(f.Status)+"html")
	case f.Status != 0 && f.RetryAfter > 0:
		parts = append(parts, fmt.Sprintf("%d:%d", f.Status, int(f.RetryAfter/time.Second)))
	case f.Status != 0:
		parts = append(parts, strconv.Itoa(f.Status))
	}
	return strings.Join(parts, "+")
}

var faultStatuses = []int{
	http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// ParseFaults reads DEPPORTAL_SANDBOX_FAULTS: a comma-separated list of op=kind[*count].
//
//	op     list | get | publicKey | upload | sync | generateKey
//	kind   429[:N]    Too Many Requests, Retry-After: N seconds (default 10), Intune's envelope
//	       503[:N]    Service Unavailable (Graph's error), Retry-After when N is given
//	       401 | 403 | 500 | 502 | 504
//	                  that status with the error Graph or Intune sends with it (403: the
//	                  person lacks the Intune role that allows Update token); the call is not
//	                  carried out
//	       500applied | 502applied | 504applied
//	                  carry out the call (an upload is taken), then answer 500, 502 or 504 with
//	                  the error the plain kind sends instead of the call's answer: a gateway
//	                  that gave up on a slow Intune which went on to finish the call (a call
//	                  Intune refuses is answered with that status too)
//	       502html    a 502 whose body is a gateway's HTML page, not JSON
//	       drop       read the request, then close the connection without a response; the
//	                  call is not carried out
//	       lost       carry out the call (an upload is taken), then close the connection:
//	                  the client cannot know that it worked
//	       latency:D  wait D (a Go duration such as 2s or 500ms), then answer normally
//	       claims     Conditional Access wants authentication context c1: a token that
//	                  declares cp1 (xms_cc) and lacks acrs c1 gets Graph's claims challenge,
//	                  401 with WWW-Authenticate error="insufficient_claims", claims="…",
//	                  until a token with acrs c1 arrives; a token without cp1 cannot be
//	                  challenged and goes through. It stays queued until met.
//	count  how many calls the entry covers: a number (default 1) or "always"
//
// Entries for one operation queue in order: "upload=429,upload=drop" throttles the first upload,
// drops the second, and lets the third through. Example:
// "upload=429:30,list=503,get=latency:2s*always,upload=502html".
func ParseFaults(spec string) (map[Operation][]Fault, error) {
	faults := make(map[Operation][]Fault)
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		opName, kind, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want op=kind", entry)
		}
		op, ok := operationNamed(strings.TrimSpace(opName))
		if !ok {
			return nil, fmt.Errorf("%q: unknown operation %q (want one of %s)", entry, opName, operationList())
		}
		kind, count, hasCount := strings.Cut(strings.TrimSpace(kind), "*")
		f, err := parseFaultKind(kind)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		if hasCount {
			if count == "always" {
				f.Times = Always
			} else if n, err := strconv.Atoi(count); err == nil && n > 0 {
				f.Times = n
			} else {
				return nil, fmt.Errorf("%q: count %q is neither a positive number nor \"always\"", entry, count)
			}
		}
		faults[op] = append(faults[op], f)
	}
	return faults, nil
}

func parseFaultKind(kind string) (Fault, error) {
	name, arg, hasArg := strings.Cut(kind, ":")
	switch name {
	case "drop", "lost":
		if hasArg {
			return Fault{}, fmt.Errorf("%s takes no argument", name)
		}
		return Fault{Drop: true, AfterApply: name == "lost"}, nil
	case "500applied", "502applied", "504applied":
		if hasArg {
			return Fault{}, fmt.Errorf("%s takes no argument", name)
		}
		status, _ := strconv.Atoi(strings.TrimSuffix(name, "applied"))
		return Fault{Status: status, AfterApply: true}, nil
	case "502html":
		if hasArg {
			return Fault{}, fmt.Errorf("%s takes no argument", name)
		}
		return Fault{Status: http.StatusBadGateway, HTML: true}, nil
	case "claims":
		if hasArg {
			return Fault{}, fmt.Errorf("claims takes no argument")
		}
		return Fault{Claims: true}, nil
	case "latency":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return Fault{}, fmt.Errorf("latency needs a positive duration such as 2s, not %q", arg)
		}
		return Fault{Latency: d}, nil
	}
	status, err := strconv.Atoi(name)
	if err != nil || !slices.Contains(faultStatuses, status) {
		return Fault{}, fmt.Errorf("unknown fault %q (want 401, 403, 429[:N], 500, 500applied, 502, 502applied, 502html, 503[:N], 504, 504applied, drop, lost, claims or latency:D)", kind)
	}
	f := Fault{Status: status}
	if hasArg {
		if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
			return Fault{}, fmt.Errorf("only 429 and 503 take a Retry-After")
		}
		d, err := parseRetryAfter(arg)
		if err != nil {
			return Fault{}, err
		}
		f.RetryAfter = d
	}
	return f, nil
}

func parseRetryAfter(arg string) (time.Duration, error) {
	if n, err := strconv.Atoi(arg); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	if d, err := time.ParseDuration(arg); err == nil && d >= time.Second {
		return d.Round(time.Second), nil
	}
	return 0, fmt.Errorf("the Retry-After %q is not a number of seconds", arg)
}

func operationNamed(name string) (Operation, bool) {
	for _, op := range operations {
		if strings.EqualFold(string(op), name) {
			return op, true
		}
	}
	return "", false
}

func operationList() string {
	names := make([]string, len(operations))
	for i, op := range operations {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}

// InjectFault queues f for the next calls of op (f.Times of them), after any fault already
// queued for it. It panics on an operation the simulator does not have: that is a test's bug.
func (g *Graph) InjectFault(op Operation, f Fault) {
	if _, ok := operationNamed(string(op)); !ok {
		panic(fmt.Sprintf("sandbox graph: InjectFault: unknown operation %q", op))
	}
	if f.HTML && f.Status == 0 {
		f.Status = http.StatusBadGateway
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults[op] = append(g.faults[op], f)
}

// takeFault returns the fault for this call of op, if one is queued, and uses it up.
func (g *Graph) takeFault(op Operation) (Fault, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	queue := g.faults[op]
	if len(queue) == 0 || queue[0].Claims {
		return Fault{}, false // a claims fault waits for a token that meets it (challengeClaims)
	}
	f := queue[0]
	switch {
	case f.Times == Always:
	case f.Times > 1:
		queue[0].Times--
	default:
		g.faults[op] = queue[1:]
	}
	return f, true
}

// challengeClaims plays a claims fault at the head of op's queue: true when it answered the
// call with a claims challenge. A token that carries the authentication context meets the
// fault, which is then used up; one without cp1 leaves it to takeFault, which lets the call
// through.
func (g *Graph) challengeClaims(c *call, op Operation) bool {
	g.mu.Lock()
	queue := g.faults[op]
	if len(queue) == 0 || !queue[0].Claims {
		g.mu.Unlock()
		return false
	}
	capable := slices.Contains(c.claims.Capabilities, "cp1")
	met := slices.Contains(c.claims.AuthContexts, ClaimsContext)
	if met {
		g.faults[op] = queue[1:]
	}
	g.mu.Unlock()
	switch {
	case met:
		g.logger.Info("sandbox graph: claims fault met: the token carries the authentication context", "op", op, "acrs", ClaimsContext)
		return false
	case !capable:
		g.logger.Warn("sandbox graph: claims fault not played: the token does not declare the cp1 client capability, and Graph challenges only clients that do", "op", op)
		return false
	}
	g.logger.Info("sandbox graph: fault: claims challenge", "op", op, "request_id", c.requestID)
	challenge := base64.StdEncoding.EncodeToString([]byte(`{"access_token":{"acrs":{"essential":true,"value":"` + ClaimsContext + `"}}}`))
	c.writeError(&apiError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken",
		message: "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: AuthenticationContextRequired",
		claims:  challenge, wwwAuth: true})
	return true
}

// ClearFaults drops every queued fault, including those that cover every call.
func (g *Graph) ClearFaults() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.faults)
}
