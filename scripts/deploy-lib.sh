# shellcheck shell=bash
# Shared by scripts/check-deploy.sh and scripts/deploy-check.sh (source after
# scripts/lib.sh): the kustomize and promtool they use, from Debian packages.

# ecm_deb_tool PACKAGE PATH: prints the path of a program from a Debian
# package, unpacked (not installed) under $ECM_DEV_DIR/tools/PACKAGE with
# `apt-get download` + `dpkg-deb -x`: installing prometheus would start a
# server, and kubernetes-client conflicts with other packages of kubectl.
ecm_deb_tool() {
    local pkg=$1 path=$2 dir=$ECM_DEV_DIR/tools/$1
    if [[ ! -x $dir/$path ]]; then
        mkdir -p "$dir"
        (cd "$dir" && rm -f ./*.deb && apt-get download "$pkg" >/dev/null 2>&1) ||
            { ecm_warn "apt-get download $pkg failed"; return 1; }
        dpkg-deb -x "$dir"/"$pkg"_*.deb "$dir" && rm -f "$dir"/*.deb
    fi
    [[ -x $dir/$path ]] || { ecm_warn "$pkg has no $path"; return 1; }
    echo "$dir/$path"
}

# Prints the kubectl that renders the overlays: Debian 12's kubernetes-client
# (kubectl 1.20, kustomize v2.0.3: the oldest the manifests keep to).
ecm_kubectl_debian() { ecm_deb_tool kubernetes-client usr/bin/kubectl; }

# ecm_kustomize DIR: the rendered YAML of a kustomization on stdout, with
# Debian's kubectl (deprecation warnings of newer kustomize dropped).
ecm_kustomize() {
    local k
    k=$(ecm_kubectl_debian) || return 1
    "$k" kustomize "$1"
}

ecm_promtool() { ecm_deb_tool prometheus usr/bin/promtool; }
