package main

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// types: every kind the chart may render, by group/version/kind.
var types = map[schema.GroupVersionKind]func() any{
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                 func() any { return &appsv1.Deployment{} },
	{Group: "batch", Version: "v1", Kind: "Job"}:                       func() any { return &batchv1.Job{} },
	{Version: "v1", Kind: "Service"}:                                   func() any { return &corev1.Service{} },
	{Version: "v1", Kind: "ConfigMap"}:                                 func() any { return &corev1.ConfigMap{} },
	{Version: "v1", Kind: "PersistentVolumeClaim"}:                     func() any { return &corev1.PersistentVolumeClaim{} },
	{Version: "v1", Kind: "ServiceAccount"}:                            func() any { return &corev1.ServiceAccount{} },
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}:      func() any { return &policyv1.PodDisruptionBudget{} },
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}: func() any { return &networkingv1.NetworkPolicy{} },
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}:       func() any { return &networkingv1.Ingress{} },
	{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}:      func() any { return &ScaledObject{} },
}

// check runs the per-object checks, then the references between objects.
func check(objects []object) []string {
	var problems []string
	report := func(o object, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s %s: %s", o.where, o.kind, o.name,
			fmt.Sprintf(format, args...)))
	}
	pods := map[string]*corev1.PodTemplateSpec{} // Deployment name -> pod template
	services := map[string]*corev1.Service{}
	for _, o := range objects {
		for _, msg := range validation.IsDNS1123Subdomain(o.name) {
			report(o, "name: %s", msg)
		}
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			pods[o.name] = &v.Spec.Template
			checkSelector(v.Spec.Selector, v.Spec.Template.Labels, func(m string) { report(o, "%s", m) })
			checkPod(&v.Spec.Template.Spec, func(m string) { report(o, "%s", m) })
		case *batchv1.Job:
			checkPod(&v.Spec.Template.Spec, func(m string) { report(o, "%s", m) })
		case *corev1.Service:
			services[o.name] = v
			for _, msg := range validation.IsDNS1035Label(o.name) {
				report(o, "name: %s", msg)
			}
		case *policyv1.PodDisruptionBudget:
			if (v.Spec.MinAvailable == nil) == (v.Spec.MaxUnavailable == nil) {
				report(o, "exactly one of minAvailable and maxUnavailable")
			}
		case *ScaledObject:
			checkScaledObject(v, func(m string) { report(o, "%s", m) })
		}
	}
	for _, o := range objects {
		switch v := o.value.(type) {
		case *corev1.Service:
			if !selectsAny(metav1.SetAsLabelSelector(v.Spec.Selector), pods) {
				report(o, "selector %v selects no Deployment's pods", v.Spec.Selector)
			}
			for _, p := range v.Spec.Ports {
				checkTargetPort(p.TargetPort, v.Spec.Selector, pods, func(m string) { report(o, "%s", m) })
			}
		case *policyv1.PodDisruptionBudget:
			if !selectsAny(v.Spec.Selector, pods) {
				report(o, "selector selects no Deployment's pods")
			}
		case *networkingv1.NetworkPolicy:
			if len(v.Spec.PodSelector.MatchLabels) > 0 && !selectsAny(&v.Spec.PodSelector, pods) {
				report(o, "podSelector selects no Deployment's pods")
			}
		case *networkingv1.Ingress:
			checkIngress(v, services, func(m string) { report(o, "%s", m) })
		case *ScaledObject:
			if v.Spec.ScaleTargetRef != nil && pods[v.Spec.ScaleTargetRef.Name] == nil {
				report(o, "scaleTargetRef %q is no Deployment here", v.Spec.ScaleTargetRef.Name)
			}
		}
	}
	return problems
}

func checkSelector(sel *metav1.LabelSelector, podLabels map[string]string, report func(string)) {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if sel == nil || err != nil || selector.Empty() {
		report(fmt.Sprintf("selector missing, empty or invalid (%v)", err))
		return
	}
	if !selector.Matches(labels.Set(podLabels)) {
		report("selector does not match the pod template's labels")
	}
	for k, v := range podLabels {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			report(fmt.Sprintf("label %s=%s: %s", k, v, msg))
		}
	}
}

func checkPod(pod *corev1.PodSpec, report func(string)) {
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			report(fmt.Sprintf("container %s: %s", c.Name, msg))
		}
		if c.Image == "" {
			report(fmt.Sprintf("container %s: no image", c.Name))
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
			for _, msg := range validation.IsValidPortName(p.Name) {
				report(fmt.Sprintf("container %s: port %q: %s", c.Name, p.Name, msg))
			}
		}
		for what, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe,
			"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.Type == intstr.String &&
				!ports[probe.HTTPGet.Port.StrVal] {
				report(fmt.Sprintf("container %s: %s probe on unknown port %q", c.Name, what,
					probe.HTTPGet.Port.StrVal))
			}
		}
		seen := map[string]bool{}
		for _, e := range c.Env {
			if seen[e.Name] {
				report(fmt.Sprintf("container %s: env %s set twice", c.Name, e.Name))
			}
			seen[e.Name] = true
			for _, msg := range validation.IsEnvVarName(e.Name) {
				report(fmt.Sprintf("container %s: env %s: %s", c.Name, e.Name, msg))
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				report(fmt.Sprintf("container %s: mounts unknown volume %q", c.Name, m.Name))
			}
		}
		for name, limit := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
				report(fmt.Sprintf("container %s: %s request %s over its limit %s", c.Name, name,
					req.String(), limit.String()))
			}
		}
	}
}

func checkScaledObject(v *ScaledObject, report func(string)) {
	if v.Spec.ScaleTargetRef == nil || v.Spec.ScaleTargetRef.Name == "" {
		report("no scaleTargetRef.name")
	}
	if v.Spec.MinReplicaCount != nil && v.Spec.MaxReplicaCount != nil &&
		*v.Spec.MinReplicaCount > *v.Spec.MaxReplicaCount {
		report("minReplicaCount over maxReplicaCount")
	}
	if len(v.Spec.Triggers) == 0 {
		report("no triggers")
	}
	for _, t := range v.Spec.Triggers {
		if t.Type != "kafka" {
			continue
		}
		for _, key := range kafkaRequired {
			if t.Metadata[key] == "" {
				report(fmt.Sprintf("kafka trigger without %s", key))
			}
		}
		for _, key := range []string{"lagThreshold", "activationLagThreshold"} {
			if s, ok := t.Metadata[key]; ok {
				if n, err := strconv.Atoi(s); err != nil || n < 0 {
					report(fmt.Sprintf("kafka trigger %s %q is not a count", key, s))
				}
			}
		}
		if p, ok := t.Metadata["offsetResetPolicy"]; ok && p != "latest" && p != "earliest" {
			report(fmt.Sprintf("kafka trigger offsetResetPolicy %q", p))
		}
	}
}

func checkIngress(v *networkingv1.Ingress, services map[string]*corev1.Service, report func(string)) {
	for _, rule := range v.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, path := range rule.HTTP.Paths {
			svc := path.Backend.Service
			if svc == nil || services[svc.Name] == nil {
				report(fmt.Sprintf("host %s: backend is no Service here", rule.Host))
				continue
			}
			found := false
			for _, p := range services[svc.Name].Spec.Ports {
				found = found || (svc.Port.Name != "" && p.Name == svc.Port.Name) ||
					(svc.Port.Number != 0 && p.Port == svc.Port.Number)
			}
			if !found {
				report(fmt.Sprintf("host %s: Service %s has no port %v", rule.Host, svc.Name, svc.Port))
			}
		}
	}
}

// checkTargetPort: a named target port must be a port of the pods the Service selects.
func checkTargetPort(target intstr.IntOrString, sel map[string]string,
	pods map[string]*corev1.PodTemplateSpec, report func(string)) {
	if target.Type != intstr.String {
		return
	}
	for _, pod := range pods {
		if !labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == target.StrVal {
					return
				}
			}
		}
	}
	report(fmt.Sprintf("targetPort %q is no port of the selected pods", target.StrVal))
}

func selectsAny(sel *metav1.LabelSelector, pods map[string]*corev1.PodTemplateSpec) bool {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || selector.Empty() {
		return false
	}
	for _, pod := range pods {
		if selector.Matches(labels.Set(pod.Labels)) {
			return true
		}
	}
	return false
}
