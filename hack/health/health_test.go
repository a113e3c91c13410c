// Package health checks what Argo CD and Flux show for LoraJobs and LoraAdapters, with their own
// code: the Argo CD health scripts in docs/argocd run by gopher-lua the way Argo CD runs resource
// customizations, and kstatus (sigs.k8s.io/cli-utils), which Flux's health checks use.
//
// The objects come from testdata/states.json, which the operator's HealthStatesTest writes from
// its own status calculators, one per state a user watches, each with the health it should show.
package health

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// state is one entry of testdata/states.json.
type state struct {
	Name    string          `json:"name"`
	ArgoCD  string          `json:"argocd"`
	Kstatus string          `json:"kstatus"`
	Object  json.RawMessage `json:"object"`
}

var scripts = map[string]string{
	"LoraJob":     "../../docs/argocd/lorajob-health.lua",
	"LoraAdapter": "../../docs/argocd/loraadapter-health.lua",
}

func loadStates(t *testing.T) []state {
	t.Helper()
	data, err := os.ReadFile("testdata/states.json")
	if err != nil {
		t.Fatalf("read states (written by the operator's HealthStatesTest): %v", err)
	}
	var states []state
	if err := json.Unmarshal(data, &states); err != nil {
		t.Fatalf("parse states: %v", err)
	}
	if len(states) == 0 {
		t.Fatal("no states")
	}
	return states
}

// object decodes like the API machinery does (integers as int64), which kstatus relies on.
func object(t *testing.T, raw json.RawMessage) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		t.Fatalf("decode object: %v", err)
	}
	return u
}

func TestArgoCDHealth(t *testing.T) {
	for _, s := range loadStates(t) {
		t.Run(s.Name, func(t *testing.T) {
			u := object(t, s.Object)
			script, err := os.ReadFile(scripts[u.GetKind()])
			if err != nil {
				t.Fatalf("script for %s: %v", u.GetKind(), err)
			}
			got, message, err := argoHealth(u, string(script))
			if err != nil {
				t.Fatalf("lua: %v", err)
			}
			if got != s.ArgoCD {
				t.Errorf("Argo CD health %q (%s), want %q", got, message, s.ArgoCD)
			}
			if message == "" {
				t.Errorf("Argo CD health %q has no message", got)
			}
		})
	}
}

func TestKstatus(t *testing.T) {
	for _, s := range loadStates(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, err := status.Compute(object(t, s.Object))
			if err != nil {
				t.Fatalf("kstatus: %v", err)
			}
			if string(res.Status) != s.Kstatus {
				t.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, s.Kstatus)
			}
		})
	}
}

// The README's argocd-cm block carries the scripts verbatim, so users copy what is tested here.
func TestReadmeCarriesTheScripts(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for kind, file := range scripts {
		script, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var block strings.Builder
		block.WriteString("resource.customizations.health.loraops.io_" + kind + ": |\n")
		for _, line := range strings.Split(strings.TrimRight(string(script), "\n"), "\n") {
			block.WriteString(strings.TrimRight("  "+line, " ") + "\n")
		}
		if !strings.Contains(string(readme), block.String()) {
			t.Errorf("README.md does not carry %s as written; paste this into its argocd-cm block:\n%s",
				filepath.Base(file), block.String())
		}
	}
}

// argoHealth runs a health script as Argo CD does (util/lua/lua.go in argoproj/argo-cd): only the
// package, base and table libraries open (resource customizations run without the others unless
// useOpenLibs is set), the object as the global obj, and the returned table's status checked
// against Argo CD's health codes (anything else is Unknown).
func argoHealth(u *unstructured.Unstructured, script string) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", decodeValue(l, u.Object))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	result, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "Unknown", "the script returned no table", nil
	}
	code := lua.LVAsString(result.RawGetString("status"))
	message := lua.LVAsString(result.RawGetString("message"))
	switch code {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return code, message, nil
	}
	return "Unknown", "invalid health status " + code, nil
}

// decodeValue is Argo CD's conversion of an object into Lua values (util/lua/lua.go).
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}
