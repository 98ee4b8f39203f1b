# addons.hcl: your own tasks on top of the built-in scratch plan.
#
#   plan run scratch.hcl addons.hcl -H masters=cp1 -H workers=w1,w2
#
# The files of a run share one namespace, so this file can use the built-in plan's groups,
# variables, locals (local.first_master, local.all_hosts, ...) and tasks: depends_on orders
# your tasks after theirs, and task.NAME.output.X reads their outputs. `plan render
# scratch.hcl addons.hcl -H ...` shows what it adds.

variable "demo_image" {
  type        = string
  default     = "registry.k8s.io/e2e-test-images/agnhost:2.53"
  description = "Image of the demo Deployment (pull it, or import it offline like the built-in images)"
}

variable "demo_replicas" {
  type    = number
  default = 2
}

# On every node, once it has joined: a login banner with what the node is.
task "motd" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.kubelet]

  file "motd" {
    destination = "/etc/motd"
    content     = "Kubernetes node ${task.facts.output.node_name} (${task.facts.output.ip}) of cluster ${var.cluster_name}, built by plan's scratch plan.\n"
    mode        = "0644"
  }
}

# After the built-in checks passed: a Deployment behind a ClusterIP Service, applied from the
# first master with its admin kubeconfig, and waited for.
task "demo_app" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.checks]

  file "manifest" {
    destination = "/etc/kubernetes/addons/demo.yaml"
    mode        = "0644"
    content     = <<-EOT
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: demo
        namespace: default
      spec:
        replicas: ${var.demo_replicas}
        selector:
          matchLabels: {app: demo}
        template:
          metadata:
            labels: {app: demo}
          spec:
            containers:
              - name: demo
                image: ${var.demo_image}
                args: ["netexec", "--http-port=8080"]
                ports: [{containerPort: 8080}]
      ---
      apiVersion: v1
      kind: Service
      metadata:
        name: demo
        namespace: default
      spec:
        selector: {app: demo}
        ports: [{port: 80, targetPort: 8080}]
    EOT
  }

  run "apply" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig apply -f /etc/kubernetes/addons/demo.yaml"
    unless  = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig diff -f /etc/kubernetes/addons/demo.yaml >/dev/null 2>&1"
  }

  run "rollout" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig rollout status deployment/demo --timeout=180s"
  }

  # The Service answers from the node (through kube-proxy).
  run "curl" {
    command = "curl -fsS --max-time 5 \"http://$(/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get service demo -o jsonpath='{.spec.clusterIP}')/hostname\""
  }

  output "served_by" {
    value = trimspace(step.curl.stdout)
  }
}
