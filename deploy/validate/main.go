// Command validate checks rendered Kubernetes manifests offline and strictly: every YAML
// document is decoded into its API type (k8s.io/api, and a mirror of KEDA's ScaledObject)
// with unknown and duplicate fields refused, then checked for what the API server or the
// controllers would refuse or silently mis-wire (names, selectors, named ports, references).
//
//	helm template ... | go run . [-]
//	go run . rendered.yaml ...
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one decoded document and where it came from.
type object struct {
	kind, name, where string
	value             any
}

func main() {
	sources := os.Args[1:]
	if len(sources) == 0 {
		sources = []string{"-"}
	}
	var objects []object
	var problems []string
	for _, source := range sources {
		found, errs := readSource(source)
		objects = append(objects, found...)
		problems = append(problems, errs...)
	}
	problems = append(problems, check(objects)...)
	if len(objects) == 0 {
		problems = append(problems, "no objects found")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		os.Exit(1)
	}
	fmt.Printf("ok: %d objects valid (%s)\n", len(objects), summary(objects))
}

func readSource(source string) ([]object, []string) {
	var in io.Reader = os.Stdin
	if source != "-" {
		f, err := os.Open(source)
		if err != nil {
			return nil, []string{err.Error()}
		}
		defer f.Close()
		in = f
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var objects []object
	var problems []string
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("%s#%d", source, n)
		if err != nil {
			return objects, append(problems, fmt.Sprintf("%s: %v", where, err))
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, err := decode(doc, where)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		objects = append(objects, obj)
	}
	return objects, problems
}

// decode reads apiVersion and kind, then decodes the document strictly into that type.
func decode(doc []byte, where string) (object, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return object{}, fmt.Errorf("%s: not YAML: %v", where, err)
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return object{}, fmt.Errorf("%s: apiVersion %q: %v", where, meta.APIVersion, err)
	}
	gvk := gv.WithKind(meta.Kind)
	newValue, known := types[gvk]
	if !known {
		return object{}, fmt.Errorf("%s: %s is not a type this validator knows", where, gvk)
	}
	value := newValue()
	if err := yaml.UnmarshalStrict(doc, value); err != nil {
		return object{}, fmt.Errorf("%s: %s %s: %v", where, meta.Kind, meta.Metadata.Name, err)
	}
	return object{kind: meta.Kind, name: meta.Metadata.Name, where: where, value: value}, nil
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

func summary(objects []object) string {
	counts := map[string]int{}
	for _, o := range objects {
		counts[o.kind]++
	}
	var parts []string
	for kind, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
