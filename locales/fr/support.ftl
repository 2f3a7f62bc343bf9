# Questionnaire de satisfaction (placement support.survey).

support-survey-default-title = Votre avis compte
support-survey-default-body =
    { $channel ->
        [email] Cela ne prend que deux minutes. Cliquez sur le bouton ci-dessous pour nous donner votre avis.
        [mobile_app] Touchez ci-dessous et répondez à trois questions rapides sur l'application.
       *[other] Répondez à trois questions rapides et aidez-nous à améliorer Northwind.
    }
support-survey-cta-label = Répondre au questionnaire

support-survey-chat-title = Évaluez cette conversation
support-survey-chat-body = Notre équipe a-t-elle résolu votre problème aujourd'hui ? Dites-le-nous en un clic.

support-survey-buyer-title = { $first_name }, comment s'est passée votre commande ?
    .anonymous = Comment s'est passée votre commande ?
support-survey-buyer-body =
    { $order_count ->
        [one] Merci pour votre première commande !
       *[other] Merci pour vos { $order_count } commandes !
    } Notez votre dernière livraison en moins d'une minute.
    .anonymous = Merci de votre confiance ! Notez votre dernière livraison en moins d'une minute.
