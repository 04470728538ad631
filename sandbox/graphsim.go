package sandbox

// The Intune Graph simulator: the part of Microsoft Graph beta that the portal talks to, written
// from Microsoft's Graph beta documentation and never from the portal's graph/ package, so that
// a misreading on either side shows up as a failure in the sandbox instead of agreeing with
// itself. It holds the only private keys that can open a sample token, and nothing it decrypts
// is logged or kept.

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const graphPathPrefix = "/_sandbox/graph/beta/"

// DepTokenEncoding says how uploadDepToken's depToken carries the .p7m file. Microsoft does not
// document it, so the simulator holds clients to exactly one reading: a client configured for
// the other fails here as it would fail against Intune.
const (
	DepTokenRaw    = "raw"    // the file's text as it is: S/MIME headers, blank line, base64
	DepTokenBase64 = "base64" // base64 of the file's bytes (what Jamf's API wants)
)

// GraphConfig is what the simulator needs from the portal's wiring.
type GraphConfig struct {
	// DataDir keeps each onboarding setting's RSA key and certificate (0600), so that a sample
	// token downloaded before a restart still uploads after it, and the received-uploads log.
	DataDir string
	// Issuer is the sandbox IdP's issuer; access tokens from anywhere else are refused.
	Issuer string
	// Keys returns the IdP's public keys (IdP.PublicKeys); called per request so that a key the
	// IdP replaces is picked up.
	Keys func() jose.JSONWebKeySet
	// DepTokenEncoding is DepTokenRaw (the default when empty) or DepTokenBase64.
	DepTokenEncoding string
	// Faults is DEPPORTAL_SANDBOX_FAULTS; see ParseFaults for the syntax.
	Faults string
	// PageSize, when positive, makes list return at most that many settings a page even when the
	// client sends no $top, as Graph does for large collections; it exercises a client's
	// @odata.nextLink handling with only three settings. Zero returns them all at once unless
	// $top asks otherwise.
	PageSize int
	Now      func() time.Time // time.Now when nil
	Logger   *slog.Logger     // nil discards

	// newKey makes RSA keys; tests hand out pre-made ones because generating them under the
	// race detector takes seconds.
	newKey func() (*rsa.PrivateKey, error)
}

// Graph serves /_sandbox/graph/beta/deviceManagement/depOnboardingSettings… as Intune would, for
// the sandbox tenant only.
type Graph struct {
	dataDir   string
	issuer    string
	keys      func() jose.JSONWebKeySet
	encoding  string
	faultSpec string
	pageSize  int
	now       func() time.Time
	logger    *slog.Logger
	newKey    func() (*rsa.PrivateKey, error)

	mu       sync.Mutex
	settings []*onboardingSetting // in the order Intune lists them
	vpp      []VppToken
	push     PushCertificate
	faults   map[Operation][]Fault
	samples  []Sample // per setting, then the wrong files
	received []ReceivedUpload
	other    *settingKey // "another MDM server": the key of the wrong-key samples
}

// NewGraph loads or creates the settings' keys in cfg.DataDir and makes the sample files.
func NewGraph(cfg GraphConfig) (*Graph, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("sandbox graph: DataDir is empty")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("sandbox graph: Issuer is empty")
	}
	if cfg.Keys == nil {
		return nil, errors.New("sandbox graph: Keys is nil")
	}
	encoding := cfg.DepTokenEncoding
	if encoding == "" {
		encoding = DepTokenRaw
	}
	if encoding != DepTokenRaw && encoding != DepTokenBase64 {
		return nil, fmt.Errorf("sandbox graph: DepTokenEncoding %q is neither %q nor %q", cfg.DepTokenEncoding, DepTokenRaw, DepTokenBase64)
	}
	faults, err := ParseFaults(cfg.Faults)
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: DEPPORTAL_SANDBOX_FAULTS: %w", err)
	}
	g := &Graph{
		dataDir:   cfg.DataDir,
		issuer:    cfg.Issuer,
		keys:      cfg.Keys,
		encoding:  encoding,
		faultSpec: cfg.Faults,
		pageSize:  max(cfg.PageSize, 0),
		now:       cfg.Now,
		logger:    cfg.Logger,
		newKey:    cfg.newKey,
		faults:    faults,
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	if g.newKey == nil {
		g.newKey = generateSettingKey
	}
	g.settings = seedSettings(g.now())
	g.vpp, g.push = seedConnectors(g.now())
	for _, s := range g.settings {
		key, err := g.loadOrCreateKey(s.ID, intuneCertName(s.ID))
		if err != nil {
			return nil, err
		}
		s.key = key
	}
	g.other, err = g.loadOrCreateKey(otherMDMKeyName, otherMDMCertName)
	if err != nil {
		return nil, err
	}
	if g.samples, err = g.makeSamples(); err != nil {
		return nil, err
	}
	g.logger.Info("sandbox graph: ready", "settings", len(g.settings), "depTokenEncoding", encoding, "faults", cfg.Faults)
	return g, nil
}

// Operation names a Graph call, for faults.
type Operation string

const (
	OpList        Operation = "list"        // GET depOnboardingSettings
	OpGet         Operation = "get"         // GET depOnboardingSettings/{id}
	OpPublicKey   Operation = "publicKey"   // GET …/{id}/getEncryptionPublicKey
	OpUpload      Operation = "upload"      // POST …/{id}/uploadDepToken
	OpSync        Operation = "sync"        // POST …/{id}/syncWithAppleDeviceEnrollmentProgram
	OpGenerateKey Operation = "generateKey" // POST …/{id}/generateEncryptionPublicKey
)

var operations = []Operation{OpList, OpGet, OpPublicKey, OpUpload, OpSync, OpGenerateKey, OpVppTokens, OpPushCertificate}

// writes are the operations that need DeviceManagementServiceConfig.ReadWrite.All.
func (op Operation) write() bool { return op == OpUpload || op == OpSync || op == OpGenerateKey }

// actions maps the URL segment after an id to its operation. OData segment names are matched
// without regard to case, as Graph does.
var actions = map[string]Operation{
	"getencryptionpublickey":               OpPublicKey,
	"uploaddeptoken":                       OpUpload,
	"syncwithappledeviceenrollmentprogram": OpSync,
	"generateencryptionpublickey":          OpGenerateKey,
}

// route is what a request asks for, once its path is understood.
type route struct {
	op        Operation
	settingID string
}

// parseRoute understands deviceManagement/depOnboardingSettings[/{id}|('{id}')][/action],
// deviceManagement/applePushNotificationCertificate and deviceAppManagement/vppTokens; any
// other path gets Graph's "Resource not found for the segment" naming the first segment it
// does not know.
func parseRoute(path string) (route, string, bool) {
	rest, _ := strings.CutPrefix(path, graphPathPrefix)
	segments := strings.Split(strings.Trim(rest, "/"), "/")
	if segments[0] == "" {
		return route{}, "beta", false
	}
	var area string // as Graph spells it, for its error
	switch {
	case strings.EqualFold(segments[0], "deviceManagement"):
		area = "deviceManagement"
	case strings.EqualFold(segments[0], "deviceAppManagement"):
		area = "deviceAppManagement"
	default:
		return route{}, segments[0], false
	}
	if len(segments) < 2 {
		return route{}, area, false
	}
	if r, bad, handled := parseConnectorRoute(area, segments[1:]); handled {
		return r, bad, bad == ""
	}
	if area != "deviceManagement" {
		return route{}, segments[1], false
	}
	collection, key, hasKey := strings.Cut(segments[1], "(")
	if !strings.EqualFold(collection, "depOnboardingSettings") {
		return route{}, segments[1], false
	}
	var r route
	switch {
	case hasKey:
		id, ok := strings.CutSuffix(key, ")")
		if !ok {
			return route{}, segments[1], false
		}
		r.settingID = strings.Trim(id, "'")
		segments = segments[2:]
	case len(segments) > 2:
		r.settingID = segments[2]
		segments = segments[3:]
	default:
		return route{op: OpList}, "", true
	}
	switch len(segments) {
	case 0:
		r.op = OpGet
	case 1:
		name := strings.ToLower(strings.TrimPrefix(segments[0], "microsoft.graph."))
		op, ok := actions[name]
		if !ok {
			return route{}, segments[0], false
		}
		r.op = op
	default:
		return route{}, segments[1], false
	}
	return r, "", true
}

func (op Operation) method() string {
	if op.write() {
		return http.MethodPost
	}
	return http.MethodGet
}

// maxRequestBytes is Graph's own request limit; a token file is a few kilobytes.
const maxRequestBytes = 4 << 20

// ServeHTTP serves everything under /_sandbox/graph/beta/; mount it at that prefix without
// stripping it. Graph checks the token before it looks at the path, so this does too.
func (g *Graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := g.newCall(w, r)
	if err := g.authenticate(c); err != nil {
		c.writeError(err)
		return
	}
	rt, badSegment, ok := parseRoute(r.URL.Path)
	if !ok {
		c.writeError(&apiError{status: http.StatusBadRequest, code: "BadRequest",
			message: fmt.Sprintf("Resource not found for the segment '%s'.", badSegment)})
		return
	}
	c.route = rt
	if want := rt.op.method(); r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", want)
		c.writeError(&apiError{status: http.StatusMethodNotAllowed, code: "BadRequest",
			message: fmt.Sprintf("The HTTP method '%s' is not allowed for the operation '%s'.", r.Method, rt.op)})
		return
	}
	if err := c.authorize(); err != nil {
		c.writeError(err)
		return
	}
	var body []byte
	if rt.op.write() {
		var err *apiError
		body, err = readBody(w, r)
		if err != nil {
			g.recordIfUpload(c, body, err.status, false, err.outcome())
			c.writeError(err)
			return
		}
	}

	if g.challengeClaims(c, rt.op) {
		g.recordIfUpload(c, body, http.StatusUnauthorized, false, "fault: claims challenge (authentication context "+ClaimsContext+")")
		return
	}
	fault, faulted := g.takeFault(rt.op)
	if faulted && fault.Latency > 0 {
		// The call goes on even when the client gives up: Intune does not know it has.
		timer := time.NewTimer(fault.Latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
		}
	}
	switch {
	case faulted && fault.Drop && !fault.AfterApply:
		g.recordIfUpload(c, body, 0, false, "fault: connection dropped before processing")
		g.logger.Info("sandbox graph: fault: dropping the connection", "op", rt.op, "request_id", c.requestID)
		dropConnection(w)
		return
	case faulted && fault.Status != 0 && !fault.AfterApply:
		g.recordIfUpload(c, body, fault.Status, false, "fault: "+fault.String())
		g.logger.Info("sandbox graph: fault", "op", rt.op, "fault", fault.String(), "request_id", c.requestID)
		c.writeFault(fault)
		return
	}

	rep := g.handle(c, body)
	if faulted && fault.Drop {
		outcome := "accepted"
		if rep.err != nil {
			outcome = rep.err.outcome()
		}
		g.recordIfUpload(c, body, 0, rep.applied, outcome+"; fault: connection dropped instead of the response")
		g.logger.Info("sandbox graph: fault: dropping the connection after applying", "op", rt.op, "request_id", c.requestID)
		dropConnection(w)
		return
	}
	if faulted && fault.AfterApply && fault.Status != 0 {
		// A gateway that gave up on a slow Intune answers 5xx whatever Intune went on to do, so
		// the fault replaces the call's answer, error or not: an upload Intune refused (a 400
		// for the wrong key, say) is answered with the fault's status too, and recorded with
		// that status, applied false and the refusal in its outcome. Only the record tells the
		// two apart, as only Intune's own state would in production.
		outcome := "accepted; fault: " + strconv.Itoa(fault.Status) + " after applying"
		if rep.err != nil {
			outcome = rep.err.outcome() + "; fault: answered " + strconv.Itoa(fault.Status) + " instead"
		}
		g.recordIfUpload(c, body, fault.Status, rep.applied, outcome)
		g.logger.Info("sandbox graph: fault after carrying out the call", "op", rt.op, "fault", fault.String(),
			"applied", rep.applied, "request_id", c.requestID)
		c.writeFault(fault)
		return
	}
	if rep.err != nil {
		g.recordIfUpload(c, body, rep.err.status, rep.applied, rep.err.outcome())
	} else {
		g.recordIfUpload(c, body, rep.status, rep.applied, "accepted")
	}
	c.writeReply(rep)
}

// reply is one operation's answer, decided before anything is written so that a fault can
// still throw it away.
type reply struct {
	status  int
	body    any // JSON; nil with 204
	err     *apiError
	applied bool // the call changed Intune's state (uploads: the token was taken)
}

func (g *Graph) handle(c *call, body []byte) reply {
	switch c.route.op {
	case OpList:
		return g.list(c)
	case OpGet:
		return g.get(c)
	case OpPublicKey:
		return g.publicKey(c)
	case OpUpload:
		return g.uploadDepToken(c, body)
	case OpSync:
		return g.sync(c)
	case OpGenerateKey:
		return g.generateKey(c)
	case OpVppTokens:
		return g.vppTokens(c)
	case OpPushCertificate:
		return g.pushCertificate(c)
	}
	return reply{err: &apiError{status: http.StatusInternalServerError, code: "UnknownError", message: "unhandled operation"}}
}

// readBody insists on a Content-Length, as some Intune front ends do: a client that streams its
// body chunked fails here before it fails in production.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		return nil, &apiError{status: http.StatusLengthRequired, code: "LengthRequired",
			message: "Length Required: the request body must be sent with a Content-Length header, not chunked."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge",
				message: "The request body exceeds the maximum of " + strconv.Itoa(maxRequestBytes) + " bytes."}
		}
		return nil, &apiError{status: http.StatusBadRequest, code: "BadRequest", message: "The request body could not be read."}
	}
	return body, nil
}

// dropConnection closes the connection without a response, so that the client sees what it sees
// when a load balancer or the network gives up mid-call.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 and wrappers that cannot hijack: the server resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
