// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), the library
// Flux and cli-utils compute health with, says about Kubernetes objects.
//
// It reads objects as JSON from standard input, either one object per line or one JSON
// list of objects, and writes one JSON line per object:
//
//	{"status": "Current", "message": "Resource is Ready"}
//
// or, for an object kstatus cannot read, {"error": "..."}. The project's tests run it on
// the LLMService status the operator computes, so the README's table of what GitOps
// tools report is checked against the library itself rather than a reading of it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// verdict is one output line.
type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	input, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading standard input:", err)
		os.Exit(2)
	}
	objects, err := split(input)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, raw := range objects {
		if err := out.Encode(compute(raw)); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: writing:", err)
			os.Exit(2)
		}
	}
}

// split returns the objects of a JSON list, or of one object per non-empty line.
func split(input []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(input)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("reading a JSON list: %w", err)
		}
		return list, nil
	}
	var lines []json.RawMessage
	for _, line := range bytes.Split(trimmed, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, json.RawMessage(line))
		}
	}
	return lines, nil
}

// compute runs status.Compute on one object. The apimachinery JSON decoder keeps whole
// numbers as int64, as they are when kstatus reads objects from the API server: with
// float64 its generation checks would fail.
func compute(raw json.RawMessage) verdict {
	object := map[string]interface{}{}
	if err := utiljson.Unmarshal(raw, &object); err != nil {
		return verdict{Error: "not a JSON object: " + err.Error()}
	}
	result, err := status.Compute(&unstructured.Unstructured{Object: object})
	if err != nil {
		return verdict{Error: err.Error()}
	}
	return verdict{Status: result.Status.String(), Message: result.Message}
}
