// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), the library
// Flux and cli-utils compute health with, says about Kubernetes objects.
//
// It reads JSON from standard input: objects one after another (one per line, or
// indented as kubectl prints them), JSON lists of objects, or Kubernetes lists (a kind
// ending in List, as `kubectl get -o json` prints several objects), and writes one JSON
// line per object:
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
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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

// split returns every object of the input, in order: each top-level JSON value that is
// an array or a Kubernetes list stands for its elements.
func split(input []byte) ([]json.RawMessage, error) {
	decoder := json.NewDecoder(bytes.NewReader(input))
	var objects []json.RawMessage
	for {
		var value json.RawMessage
		err := decoder.Decode(&value)
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading JSON: %w", err)
		}
		objects = append(objects, elements(value)...)
	}
}

// elements is the value itself, or the elements of a JSON array or of a Kubernetes list.
func elements(value json.RawMessage) []json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(value, &list) == nil {
		return list
	}
	var kubeList struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(value, &kubeList) == nil && strings.HasSuffix(kubeList.Kind, "List") {
		return kubeList.Items
	}
	return []json.RawMessage{value}
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
