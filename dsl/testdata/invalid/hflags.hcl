# -H web=a@b
# -H workers=w1:http
# -H 9group=x
# -H wrkers=w2
group "workers" {}
