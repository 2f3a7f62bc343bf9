-brand = Northwind
    .gender = feminine
welcome = { -brand } { NUMBER($points, minimumFractionDigits: 2) }
ref = { welcome } { -brand.gender ->
    [feminine] elle
   *[other] il
}
sel = { $n ->
    [0] zero
    [one] one { "{" }
   *[other] { $n } { DATETIME($d) }
}
