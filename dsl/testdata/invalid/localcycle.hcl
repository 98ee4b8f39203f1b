locals {
  a = local.b
  b = "${local.a}-x"
  c = local.a
}
