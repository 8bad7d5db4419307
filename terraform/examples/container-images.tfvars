# Container images instead of zips (terraform/README.md, Container images): first apply with
# lambda_image_tag = null to create the ECR repositories, push with scripts/build-images.sh TAG,
# then apply with the tag.
lambda_package_type = "Image"
lambda_image_tag    = "3f2a9c1d0e4b"
